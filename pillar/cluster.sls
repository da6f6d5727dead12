#!py
"""
Rendered on the master for the requesting minion (``__opts__["id"]``): Python, because it
creates the join secret when it is missing, atomically, as the user the master runs as.

- ``mine_functions``: what each node publishes. Only non-secrets (private addresses, the
  control planes' join address and agent certificate fingerprint), and only cluster members
  may read them back (``allow_tgt`` on the inventory's minion ids, never grains).
- join tokens: the first 32 hex characters of HMAC-SHA256(minion id, secret), the secret
  being a file only the master holds: ``kubesalt_join_secret_file`` in the master config,
  default ``<pki_dir>/kubesalt/join.secret`` (the master's own key directory, which the
  packages give to the user the master runs as). The first pillar compilation creates it
  (0600 in a 0700 directory, owned by the master's user), so tokens exist on the very first
  highstate, whether or not the salt_master state has run. A node's pillar carries its own
  token; every control plane's carries every node's but the bootstrap one's, to register
  them (a node joins through any control plane).

Nothing here may depend on the minion's own data: a minion controls its grains.
"""

import base64
import hashlib
import hmac
import importlib.util
import json
import logging
import os
import secrets

log = logging.getLogger(__name__)


def _inventory(saltenv):
    """The inventory (read by ``_inventory.py`` beside this file, shared with maas.sls) with
    the bare-metal workers orch.baremetal recorded."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_inventory.py")
    spec = importlib.util.spec_from_file_location("kubesalt_pillar_inventory", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    inventory = module.read(__opts__, saltenv)
    return _with_baremetal(inventory) if inventory else {}


def _with_baremetal(inventory):
    """The inventory plus the bare-metal workers orch.baremetal recorded (the same
    additions pillar/baremetal.sls makes to every minion's pillar)."""
    pki_dir = __opts__.get("pki_dir") or "/etc/salt/pki/master"
    path = os.path.join(pki_dir, "kubesalt", "baremetal", "machines.json")
    try:
        with open(path, encoding="utf-8") as handle:
            machines = json.load(handle)
    except FileNotFoundError:
        return inventory
    except (OSError, ValueError) as err:
        log.error("kubesalt: cannot read the bare-metal machines %s: %s", path, err)
        return inventory
    nodes = dict(inventory.get("nodes") or {})
    microk8s = dict(inventory.get("microk8s") or {})
    workers = list(microk8s.get("workers") or [])
    for minion_id, machine in sorted(machines.items()):
        nodes[minion_id] = {"roles": ["microk8s_worker"], "private_ip": machine["private_ip"]}
        if minion_id not in workers:
            workers.append(minion_id)
    microk8s["workers"] = workers
    return {**inventory, "nodes": nodes, "microk8s": microk8s}


def secret_path(opts):
    """Where the join secret lives (see the module docstring)."""
    configured = opts.get("kubesalt_join_secret_file")
    if configured:
        return configured
    return os.path.join(opts.get("pki_dir") or "/etc/salt/pki/master", "kubesalt", "join.secret")


def read_or_create_secret(path):
    """Return the join secret in ``path``, created first if missing.

    Several master workers may compile pillars at once: the secret is written to a private
    temporary file and hard-linked into place, which fails if another worker got there
    first; then everybody reads the one that won. Returns None (logged) when the secret
    cannot be read or created: nodes then get no token, and their states say so.
    """
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        if not os.path.exists(path):
            tmp = f"{path}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "w", encoding="ascii") as handle:
                    handle.write(secrets.token_hex(32) + "\n")
                    handle.flush()
                    os.fsync(handle.fileno())
                try:
                    os.link(tmp, path)
                    log.warning("kubesalt: created the join secret %s", path)
                except FileExistsError:
                    pass
            finally:
                os.unlink(tmp)
        with open(path, encoding="ascii") as handle:
            secret = handle.read().strip()
    except (OSError, UnicodeDecodeError) as err:
        log.error(
            "kubesalt: cannot read or create the join secret %s (%s): no node gets a join "
            "token. It must be readable by the user salt-master runs as (mode 0600); fix its "
            "owner or set kubesalt_join_secret_file in the master config",
            path,
            getattr(err, "strerror", None) or err,
        )
        return None
    if not secret:
        log.error("kubesalt: the join secret %s is empty: no node gets a join token", path)
        return None
    return secret


def restore_archive(opts, minion_id):
    """The datastore archive ``orch.restore`` hands to MINION_ID (runner
    microk8s_backup.request_restore), as ``{"name", "data": base64}``; None otherwise."""
    folder = opts.get("kubesalt_backup_dir") or "/srv/kubesalt/backups"
    try:
        with open(os.path.join(folder, "restore-request.json"), encoding="utf-8") as handle:
            request = json.load(handle)
        if request.get("minion") != minion_id:
            return None
        with open(request["archive"], "rb") as handle:
            data = base64.b64encode(handle.read()).decode()
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as err:
        log.error("kubesalt: cannot read the restore request in %s: %s", folder, err)
        return None
    return {"name": os.path.basename(request["archive"]), "data": data}


def join_token(minion_id, secret):
    return hmac.new(secret.encode(), minion_id.encode(), hashlib.sha256).hexdigest()[:32]


def run():
    minion_id = __opts__["id"]
    inventory = _inventory(saltenv)
    nodes = inventory.get("nodes") or {}
    private_cidr = (inventory.get("networks") or {}).get("private_cidr")
    microk8s = inventory.get("microk8s") or {}
    control_planes = list(microk8s.get("control_planes") or [])
    microk8s_nodes = control_planes + list(microk8s.get("workers") or [])
    pillar = {}
    if isinstance(nodes, dict) and minion_id in nodes and private_cidr:
        mine = {
            "kubesalt_private_ip": [
                {"mine_function": "network.ip_addrs"},
                {"cidr": private_cidr},
                {"allow_tgt": sorted(nodes)},
                {"allow_tgt_type": "list"},
            ]
        }
        if minion_id in control_planes:
            mine["microk8s_join_info"] = [
                {"mine_function": "microk8s.join_info"},
                {"address": (nodes[minion_id] or {}).get("private_ip")},
                {"allow_tgt": microk8s_nodes},
                {"allow_tgt_type": "list"},
            ]
            # dqlite members as this control plane sees them: the next control plane
            # joins once this one is in (cluster.join_turn).
            mine["microk8s_status"] = [
                {"mine_function": "microk8s.status"},
                {"allow_tgt": control_planes},
                {"allow_tgt_type": "list"},
            ]
        pillar["mine_functions"] = mine
    if minion_id in microk8s_nodes:
        secret = read_or_create_secret(secret_path(__opts__))
        if secret:
            tokens = {"join_token": join_token(minion_id, secret)}
            # Every control plane registers the pending nodes' tokens, so a node can join
            # through any of them (microk8s.tokens).
            if minion_id in control_planes:
                tokens["join_tokens"] = {
                    node_id: join_token(node_id, secret) for node_id in microk8s_nodes[1:]
                }
            pillar["kubesalt"] = {"microk8s": tokens}
    if minion_id in control_planes:
        archive = restore_archive(__opts__, minion_id)
        if archive:
            pillar["kubesalt_restore"] = archive
    return pillar
