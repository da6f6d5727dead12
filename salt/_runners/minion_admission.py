"""Take a node out of the deployment on the master: inventory, key, then converge.

``terraform apply`` with one node fewer deletes its instance, but nothing tells the running
master (its user-data is read once, at creation). ``remove`` drops the node from the
inventory pillar (``pillar/_from_terraform.sls``), deletes its accepted (or pending) key and
its cached data, then runs the bootstrap runner, whose orchestration has the control planes
remove the Kubernetes node that is no longer in the inventory (``cluster.membership``).
Run it after the apply (before it, the still running minion re-sends its key, left pending).

Adding nodes needs no runner: the admission engine (``salt/_engines/minion_admission.py``)
admits them.
"""

import logging

import salt.key
import yaml
from salt.exceptions import CommandExecutionError
from salt.exceptions import SaltInvocationError

import cluster_lib.admission as _admission

log = logging.getLogger(__name__)

__virtualname__ = "minion_admission"
KEPT_ROLES = ("salt_master", "bastion")


def __virtual__():
    return __virtualname__


def _inventory_path():
    settings = __opts__.get("cluster_bootstrap") or {}
    return settings.get("inventory") or "/srv/pillar/_from_terraform.sls"


def remove(minion_id, converge=True):
    """
    Remove a node: out of the inventory, its key deleted, then the cluster converged.

    Refuses the salt master, the bastion and the last control plane. Returns what was done:
    ``inventory`` (True if it listed the node), ``keys`` (the key states deleted) and
    ``converge`` (the bootstrap runner's answer, when ``converge``).

    minion_id
        The node's minion id (FQDN), e.g. ``k8s-worker-2.example.internal``.

    converge
        Run the bootstrap runner afterwards (the control planes remove the Kubernetes node).
        Defaults to True.

    CLI Example:

    .. code-block:: bash

        salt-run minion_admission.remove k8s-worker-2.example.internal
    """
    if not isinstance(minion_id, str) or not _admission.ID_RE.match(minion_id):
        raise SaltInvocationError("minion_id: not a lower-case DNS name (a minion id)")
    path = _inventory_path()
    try:
        with open(path, encoding="utf-8") as handle:
            document = yaml.safe_load(handle) or {}
    except OSError as exc:
        raise CommandExecutionError(f"cannot read the inventory {path}: {exc.strerror}") from exc
    node = ((document.get("kubesalt") or {}).get("nodes") or {}).get(minion_id) or {}
    kept = [r for r in node.get("roles") or [] if r in KEPT_ROLES]
    if kept:
        raise SaltInvocationError(f"minion_id: {minion_id} is the {kept[0]}; it is not removed")
    control_planes = ((document.get("kubesalt") or {}).get("microk8s") or {}).get(
        "control_planes"
    ) or []
    if control_planes == [minion_id]:
        raise SaltInvocationError(f"minion_id: {minion_id} is the last control plane")
    updated = _admission.remove_node(document, minion_id)
    if updated is not None:
        _admission.write_inventory(path, updated)
    keys = salt.key.get_key(__opts__)
    matches = {
        state: [minion_id]
        for state, ids in keys.list_keys().items()
        if minion_id in ids and state != "local"
    }
    if matches:
        keys.delete_key(match_dict=matches)
    log.warning(
        "kubesalt admission: removed %s (inventory: %s, keys: %s)",
        minion_id,
        updated is not None,
        sorted(matches),
    )
    result = {"minion_id": minion_id, "inventory": updated is not None, "keys": sorted(matches)}
    if converge:
        result["converge"] = __salt__["cluster_bootstrap.run"](trigger=f"remove {minion_id}")
    return result
