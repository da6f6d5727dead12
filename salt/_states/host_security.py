"""
Host states that would otherwise need ``creates``/``unless`` on ``cmd.run``: the SSH host keys
(every host) and the bastion's live firewall rules.

Why not ``cmd.run`` with ``creates``/``unless``/``onlyif``: for any state carrying one of them,
Salt's state engine (3007, 3008) looks up ``cmd.mod_run_check``, which does not exist; the
loader's miss then imports every state and execution module (seconds per highstate). These
states do the check themselves.
"""

import glob
import os

from salt.exceptions import CommandExecutionError
from salt.exceptions import SaltInvocationError

import common_lib.command as _command
import common_lib.state as _state

__virtualname__ = "host_security"


def __virtual__():
    return __virtualname__


# ssh-keygen -A creates the host keys of these types that are missing (OpenSSH 9).
HOST_KEY_TYPES = ("rsa", "ecdsa", "ed25519")
IPTABLES_MISSING = "Is iptables installed? (state bastion-iptables-packages)"


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
          host_security.ssh_host_keys:
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
    try:
        out = _run(argv, "generating the SSH host keys", "Is openssh-client installed?")
    except _state.PrerequisiteMissing as err:
        return _state.error(ret, err)
    created = sorted(_host_keys(directory) - before)
    if created:
        ret["changes"] = {"created": created}
    if out["retcode"] != 0 or not os.path.exists(name):
        ret["result"] = False
        ret["comment"] = (
            f"ssh-keygen -A failed ({out['retcode']}): {out['stderr'].strip()}; "
            f"{name} still missing"
        )
        return ret
    ret["comment"] = "SSH host keys generated"
    return ret


def _run(argv, what, cannot_run):
    """``argv`` through the one command runner (``common_lib.command.run``)."""
    return _command.run(__salt__["cmd.run_all"], argv, what=what, cannot_run=cannot_run)


def _iptables(argv):
    return _run(argv, "checking the live firewall rules", IPTABLES_MISSING)


def _iptables_live_ok():
    """True when the live rules look loaded: INPUT policy DROP and a MASQUERADE rule."""
    policy = _iptables(["/usr/sbin/iptables", "-S", "INPUT"])
    nat = _iptables(["/usr/sbin/iptables", "-t", "nat", "-S", "POSTROUTING"])
    if policy["retcode"] != 0 or nat["retcode"] != 0:
        raise CommandExecutionError(
            f"iptables -S failed: {(policy['stderr'] or nat['stderr']).strip()}"
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
          host_security.iptables_live:
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
        return _state.failed(ret, err, bool(__opts__.get("test")))
    ret["changes"] = {"restored": name}
    if __opts__.get("test"):
        ret["result"] = None
        ret["comment"] = f"Live rules were flushed: {name} would be loaded"
        return ret
    try:
        out = _run(["/usr/sbin/iptables-restore", name], f"loading {name}", IPTABLES_MISSING)
    except _state.PrerequisiteMissing as err:
        ret["changes"] = {}
        return _state.error(ret, err)
    if out["retcode"] != 0:
        ret["changes"] = {}
        return _state.error(ret, f"iptables-restore {name} failed: {out['stderr'].strip()}")
    ret["comment"] = f"Live rules were flushed: {name} loaded"
    return ret
