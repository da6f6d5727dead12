#!py
"""
Rendered on the master: the bare-metal machines ``orch.baremetal`` recorded
(``<pki_dir>/kubesalt/baremetal/machines.json``, runner ``maas_baremetal.prepare``) join
the inventory as MicroK8s workers: ``kubesalt:nodes`` (role microk8s_worker, private
address) and ``kubesalt:microk8s:workers`` (the inventory's workers, then these). Every
minion and the master's own orchestrations see them, so the top file, join tokens,
``orch.cluster`` and a plain highstate treat them as any worker.

``kubesalt:baremetal:machines`` (minion id -> MAAS machine, private address) goes to every
minion; each machine's user-data (it holds the machine's minion private key) only to the
minion that asks MAAS to deploy it, the first ``maas_region`` node, as
``maas_baremetal:user_data:<minion id>`` (read by ``maas.machine_deployed`` through
``user_data_pillar``). A masterless minion gets nothing from this layer.
"""

import json
import logging
import os

import yaml

log = logging.getLogger(__name__)

INVENTORY_SLS = "_from_terraform.sls"
WORKER_ROLE = "microk8s_worker"


def _read(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except OSError as err:
        log.error("kubesalt: cannot read %s: %s", path, err)
        return None


def _inventory():
    for root in (__opts__.get("pillar_roots") or {}).get(saltenv) or []:
        text = _read(os.path.join(root, INVENTORY_SLS))
        if text is not None:
            data = yaml.safe_load(text) or {}
            if not isinstance(data, dict):
                return {}
            return data.get("kubesalt") or {}
    return {}


def run():
    if __opts__.get("__role") != "master":
        return {}
    store = os.path.join(__opts__.get("pki_dir") or "/etc/salt/pki/master", "kubesalt", "baremetal")
    text = _read(os.path.join(store, "machines.json"))
    if not text:
        return {}
    machines = json.loads(text)
    inventory = _inventory()
    nodes = inventory.get("nodes") or {}
    workers = list((inventory.get("microk8s") or {}).get("workers") or [])
    baremetal = {"machines": machines}
    regions = sorted(i for i, n in nodes.items() if "maas_region" in (n or {}).get("roles", []))
    if regions and __opts__["id"] == regions[0]:
        user_data = {}
        for minion_id in machines:
            content = _read(os.path.join(store, f"{minion_id}.user-data"))
            if content:
                user_data[minion_id] = content
        # Outside kubesalt: (validated as one-line settings), like kubesalt_restore; dict():
        # salt-lint reads the "}}" of a nested literal as a Jinja expression.
        extra = {"maas_baremetal": dict(user_data=user_data)}
    else:
        extra = {}
    return {
        **extra,
        "kubesalt": {
            "nodes": {
                minion_id: {"roles": [WORKER_ROLE], "private_ip": machine["private_ip"]}
                for minion_id, machine in machines.items()
            },
            "microk8s": {"workers": workers + [m for m in sorted(machines) if m not in workers]},
            "baremetal": baremetal,
        }
    }
