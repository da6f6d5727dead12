"""
States of the kubesalt state tree: a control plane's turn to join (from the mine), and host
checks that would otherwise need ``creates``/``unless`` on ``cmd.run``.

Why not ``cmd.run`` with ``creates``/``unless``/``onlyif``: for any state carrying one of them,
Salt's state engine (3007, 3008) looks up ``cmd.mod_run_check``, which does not exist; the
loader's miss then imports every state and execution module (seconds per highstate). These
states do the check themselves.
"""

import glob
import logging
import os
import time

from salt.exceptions import CommandExecutionError
from salt.exceptions import SaltInvocationError

import kubesalt_lib.cluster as _cluster

log = logging.getLogger(__name__)

__virtualname__ = "kubesalt"

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
          kubesalt.join_turn:
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
        log.debug("kubesalt.join_turn: no MicroK8s status yet: %s", err)
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


# ssh-keygen -A creates the host keys of these types that are missing (OpenSSH 9).
HOST_KEY_TYPES = ("rsa", "ecdsa", "ed25519")


def _host_keys(directory):
    return set(glob.glob(os.path.join(directory, "ssh_host_*_key")))


def ssh_host_keys(name, prefix=None):
    """
    Generate the SSH host keys that are missing (``ssh-keygen -A``) unless ``name`` exists.

    name
        The host key whose presence means the keys exist
        (``/etc/ssh/ssh_host_ed25519_key``).
    prefix
        Passed as ``ssh-keygen -A -f PREFIX`` (keys under ``PREFIX/etc/ssh``); ``name`` must
        then lie there. Defaults to none (the real ``/etc/ssh``).

    Changes: ``created``, the host key files made (in test mode, those of the types
    ``ssh-keygen -A`` makes that are missing).

    .. code-block:: yaml

        core-sshd-host-keys:
          kubesalt.ssh_host_keys:
            - name: /etc/ssh/ssh_host_ed25519_key
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    if not isinstance(name, str) or not os.path.isabs(name):
        raise SaltInvocationError(f"name: expected an absolute path, got {name!r}")
    if os.path.exists(name):
        ret["comment"] = f"{name} exists"
        return ret
    directory = os.path.join(prefix or "/", "etc/ssh")
    before = _host_keys(directory)
    if __opts__.get("test"):
        missing = {os.path.join(directory, f"ssh_host_{kind}_key") for kind in HOST_KEY_TYPES}
        ret["result"] = None
        ret["changes"] = {"created": sorted(missing - before)}
        ret["comment"] = "SSH host keys would be generated"
        return ret
    argv = ["/usr/bin/ssh-keygen", "-A"] + (["-f", prefix] if prefix else [])
    out = __salt__["cmd.run_all"](argv, python_shell=False)
    created = sorted(_host_keys(directory) - before)
    if created:
        ret["changes"] = {"created": created}
    if out["retcode"] != 0 or not os.path.exists(name):
        ret["result"] = False
        ret["comment"] = (
            f"ssh-keygen -A failed ({out['retcode']}): {out.get('stderr', '').strip()}; "
            f"{name} still missing"
        )
        return ret
    ret["comment"] = "SSH host keys generated"
    return ret


def _iptables_live_ok():
    """True when the live rules look loaded: INPUT policy DROP and a MASQUERADE rule."""
    run = __salt__["cmd.run_all"]
    policy = run(["/usr/sbin/iptables", "-S", "INPUT"], python_shell=False)
    nat = run(["/usr/sbin/iptables", "-t", "nat", "-S", "POSTROUTING"], python_shell=False)
    if policy["retcode"] != 0 or nat["retcode"] != 0:
        raise CommandExecutionError(
            f"iptables -S failed: {(policy.get('stderr') or nat.get('stderr') or '').strip()}"
        )
    return "-P INPUT DROP" in policy["stdout"].splitlines() and "-j MASQUERADE" in nat["stdout"]


def iptables_live(name):
    """
    Load the saved rules (``iptables-restore NAME``) when the live ones were flushed: the
    INPUT policy is not DROP or no POSTROUTING MASQUERADE rule is left (drift repair; a
    changed file is loaded by its own ``onchanges`` state).

    name
        The rules file (``/etc/iptables/rules.v4``).

    Changes: ``restored``, the file loaded.

    .. code-block:: yaml

        bastion-iptables-live:
          kubesalt.iptables_live:
            - name: /etc/iptables/rules.v4
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    if not isinstance(name, str) or not os.path.isabs(name):
        raise SaltInvocationError(f"name: expected an absolute path, got {name!r}")
    try:
        if _iptables_live_ok():
            ret["comment"] = "Live rules are loaded"
            return ret
    except CommandExecutionError as err:
        ret["result"] = False
        ret["comment"] = str(err)
        return ret
    ret["changes"] = {"restored": name}
    if __opts__.get("test"):
        ret["result"] = None
        ret["comment"] = f"Live rules were flushed: {name} would be loaded"
        return ret
    out = __salt__["cmd.run_all"](["/usr/sbin/iptables-restore", name], python_shell=False)
    if out["retcode"] != 0:
        ret["changes"] = {}
        ret["result"] = False
        ret["comment"] = f"iptables-restore {name} failed: {out.get('stderr', '').strip()}"
        return ret
    ret["comment"] = f"Live rules were flushed: {name} loaded"
    return ret
