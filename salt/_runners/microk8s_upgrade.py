"""The plan of a rolling MicroK8s upgrade, read from the cluster as it is now.

``orch.upgrade`` calls :func:`plan` while it renders: every MicroK8s node reports the channel
it tracks (``microk8s.installed``), one control plane (each in turn until one answers) lists
the Kubernetes nodes with their kubelet versions and cordons (``microk8s.nodes``), and
``microk8s_lib.upgrade.plan`` decides: control planes one at a time, then workers in batches;
nodes already at the target are left out, so a rerun resumes where a failed run stopped.
"""

import logging
import os
import sys

import salt.client

try:
    from microk8s_lib import upgrade as _upgrade
except ImportError:  # the state tree's copy when kubesalt is not installed on the master
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "_utils"))
    from microk8s_lib import upgrade as _upgrade

log = logging.getLogger(__name__)

__virtualname__ = "microk8s_upgrade"


def __virtual__():
    return __virtualname__


def _answers(client, targets, function, timeout):
    found = client.cmd(targets, function, tgt_type="list", timeout=timeout) or {}
    return {minion: value for minion, value in found.items() if not isinstance(value, str)}


def plan(channel, control_planes, workers=(), upgrade=None, timeout=30):
    """
    Return the rolling upgrade to ``channel``: ``{"target", "voters", "batches": [[{"id",
    "node", "role", "from", "step"}]], "current": [...], "helper": {minion: control plane that
    drains and watches it}, "settings": {"batch_size", "drain_timeout", "node_timeout"}}``,
    or ``{"error": "..."}`` naming every node that cannot be
    upgraded (a skipped minor, a downgrade, a node that does not answer). Changes nothing.

    channel
        The target channel, e.g. ``1.33/stable``.
    control_planes
        Minion ids of the control planes, in the order they are upgraded.
    workers
        Minion ids of the workers.
    upgrade
        The ``kubesalt:microk8s:upgrade`` pillar (``batch_size``, ``drain_timeout``,
        ``node_timeout``; defaults 1, 300, 600).
    timeout
        Seconds to wait for each minion's answer (default 30).

    CLI Example:

    .. code-block:: bash

        salt-run microk8s_upgrade.plan 1.33/stable '["k8s-master.lab"]' '["k8s-worker-0.lab"]'
    """
    control_planes, workers = list(control_planes or []), list(workers or [])
    try:
        settings = _upgrade.settings(upgrade)
    except ValueError as err:
        return {"error": str(err)}
    if not control_planes:
        return {"error": "kubesalt:microk8s:control_planes is empty: there is no cluster"}
    client = salt.client.get_local_client(mopts=__opts__)
    installed = _answers(client, control_planes + workers, "microk8s.installed", timeout)
    listed = None
    for control_plane in control_planes:
        answer = _answers(client, [control_plane], "microk8s.nodes", timeout).get(control_plane)
        if isinstance(answer, list):
            listed = {node.get("name"): node for node in answer}
            break
        log.info("microk8s_upgrade: no node list from %s, trying the next", control_plane)
    if listed is None:
        return {"error": "no control plane answered microk8s.nodes: is the cluster up?"}
    nodes = {}
    for minion, snap in installed.items():
        name = minion.partition(".")[0]
        kube = listed.get(name) or {}
        nodes[minion] = {
            "channel": (snap or {}).get("channel"),
            "node": name,
            "version": kube.get("version", ""),
            "ready": bool(kube.get("ready")),
            "unschedulable": bool(kube.get("unschedulable")),
        }
    try:
        result = _upgrade.plan(nodes, control_planes, workers, channel, settings["batch_size"])
    except ValueError as err:
        return {"error": str(err)}
    result["settings"] = settings
    result["helper"] = {
        node["id"]: _upgrade.helper_for(node["id"], control_planes)
        for batch in result["batches"]
        for node in batch
    }
    return result
