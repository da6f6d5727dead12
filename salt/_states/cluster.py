"""
States of the cluster as a whole: a control plane's turn to join (from the mine).
"""

import logging
import time

from salt.exceptions import SaltInvocationError

import cluster_lib.cluster as _cluster

log = logging.getLogger(__name__)

__virtualname__ = "cluster"

STATUS_MINE = "microk8s_status"


def __virtual__():
    return __virtualname__


def _members_missing(after):
    published = __salt__["mine.get"](",".join(after), STATUS_MINE, tgt_type="list")
    return _cluster.not_yet_members(after, published if isinstance(published, dict) else {})


def join_turn(name, after, timeout=300, interval=5):
    """
    Wait, bounded, until the control planes joining before this one are cluster members.

    dqlite adds one voter at a time, so control planes join one by one in inventory order.
    Without an orchestration (a plain ``salt '*' state.highstate`` runs every node at once)
    each control plane waits here until those before it show, in the mine entry
    ``microk8s_status`` they publish after joining, a cluster of two nodes or more. A node
    that already is a member does not wait. No changes are ever reported.

    name
        A label (the minion id).
    after
        Minion ids of the control planes that join before this one.
    timeout
        Seconds to wait. Defaults to 300.
    interval
        Seconds between two looks at the mine. Defaults to 5.

    .. code-block:: yaml

        microk8s-joined-turn:
          cluster.join_turn:
            - name: k8s-master-2.example
            - after: [k8s-master-1.example]
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    if not isinstance(after, list) or not all(isinstance(a, str) for a in after):
        raise SaltInvocationError(f"after: expected a list of minion ids, got {after!r}")
    try:
        timeout, interval = float(timeout), max(0.5, float(interval))
    except (TypeError, ValueError):
        raise SaltInvocationError(
            f"timeout/interval: expected seconds, got {timeout!r}/{interval!r}"
        ) from None
    if not after:
        ret["comment"] = "No control plane joins before this one"
        return ret
    status = None
    try:
        status = __salt__["microk8s.status"]()
    except Exception as err:  # not installed yet: the join state reports it
        log.debug("cluster.join_turn: no MicroK8s status yet: %s", err)
    nodes = ((status or {}).get("high_availability") or {}).get("nodes") or []
    if len(nodes) >= 2:
        ret["comment"] = "Already a cluster member"
        return ret
    deadline = time.monotonic() + timeout
    missing = _members_missing(after)
    if missing and __opts__.get("test"):
        ret["result"] = None
        ret["comment"] = f"Would wait until {', '.join(missing)} joined (up to {timeout:g} s)"
        return ret
    while missing and time.monotonic() < deadline:
        time.sleep(interval)
        missing = _members_missing(after)
    if missing:
        ret["result"] = False
        ret["comment"] = (
            f"{', '.join(missing)} did not join within {timeout:g} s (control planes join "
            "one at a time, in inventory order): check their state runs, then re-run"
        )
        return ret
    ret["comment"] = f"Joining after {', '.join(after)}"
    return ret
