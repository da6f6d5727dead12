#!py
"""
Rendered on the master for the requesting minion (``__opts__["id"]``): how the MAAS shared
secret and the admin's API key reach the hosts that need them, never through the mine, an
SLS file, an orchestration's pillar or a job return (docs/maas.md, "Secrets"). Python, like
``cluster.sls``, because it prepares a directory and a file on the master.

- The first MAAS region (the first inventory node with role maas_region) pushes them to the
  master (state maas.handoff_pushed: cp.push, one way, over its encrypted channel). Salt
  writes pushed files world-readable into <cachedir>/minions/<id>/files/, so this layer
  first makes the drop directory kubesalt/ there mode 0700 and the hand-off file in it 0600,
  empty, before the first push (created by the master process itself, so owned by the
  master's user; Salt rewrites an existing file in place, keeping its mode). The region's
  pillar carries the digest of the copy the master holds, so it pushes only when the secret
  or the key changed.
- Rack controllers (role maas_rack) get the shared secret and the API key, the first
  MicroK8s control plane gets the API key (for maas.apikey), as kubesalt:maas:* pillar.

Only the master does this (``__opts__["__role"] == "master"``): a masterless minion
rendering this file gets nothing from it.
"""

import hashlib
import importlib.util
import json
import os

UPLOAD_PATH = "kubesalt/maas-handoff.json"


def _inventory_module():
    """``_inventory.py`` beside this file (shared with cluster.sls)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_inventory.py")
    spec = importlib.util.spec_from_file_location("kubesalt_pillar_inventory", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _private_dir(path):
    """``path`` and its missing parents created 0700, as Salt's file.mkdir does."""
    missing = []
    while path and not os.path.isdir(path):
        missing.append(path)
        path = os.path.dirname(path)
    for directory in reversed(missing):
        os.makedirs(directory, mode=0o700, exist_ok=True)
        os.chmod(directory, 0o700)


def _prepare_drop(drop_dir, handoff_file):
    """The drop directory 0700 and an empty hand-off file 0600 before the first push: Salt
    rewrites an existing file in place, so the secrets never sit in a world-readable file,
    even inside the 0700 directory."""
    _private_dir(drop_dir)
    os.chmod(drop_dir, 0o700)
    try:
        os.close(os.open(handoff_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    os.chmod(handoff_file, 0o600)


def _read(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return ""


def run():
    minion_id = __opts__["id"]
    inventory = _inventory_module().read(__opts__, saltenv)
    nodes = inventory.get("nodes") or {}
    if not isinstance(nodes, dict):
        return {}
    regions = [
        node_id
        for node_id, node in sorted(nodes.items())
        if "maas_region" in ((node or {}).get("roles") or [])
    ]
    if not regions or __opts__.get("__role") != "master" or minion_id not in nodes:
        return {}
    drop_dir = os.path.join(__opts__["cachedir"], "minions", regions[0], "files", "kubesalt")
    handoff_file = os.path.join(drop_dir, "maas-handoff.json")
    out = {}
    if minion_id == regions[0]:
        _prepare_drop(drop_dir, handoff_file)
    content = _read(handoff_file)
    if minion_id == regions[0]:
        fingerprint = hashlib.sha256(content.encode()).hexdigest() if content else ""
        out["handoff"] = {"path": UPLOAD_PATH, "fingerprint": fingerprint}
    is_rack = "maas_rack" in ((nodes[minion_id] or {}).get("roles") or [])
    control_planes = (inventory.get("microk8s") or {}).get("control_planes") or []
    is_key_holder = list(control_planes[:1]) == [minion_id]
    if content and (is_rack or is_key_holder):
        handoff = json.loads(content)
        out["api_key"] = handoff.get("api_key", "")
        if is_rack:
            out["shared_secret"] = handoff.get("shared_secret", "")
    if not out:
        return {}
    return {"kubesalt": dict(maas=out)}
