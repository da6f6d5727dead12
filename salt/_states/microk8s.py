"""States for MicroK8s: the snap, its services, addons, join tokens, cluster membership and
certificate SANs.

Every state reads (through the execution module, whose read-only look-ups are cached for
the whole run), predicts its changes, returns them with ``result: None`` under ``test=True``,
applies them, then reads again and fails if the node did not converge. In test mode a
missing prerequisite (the snap not installed yet, MicroK8s stopped) gives ``result: None``
rather than False, since the states that would fix it have not really run.

Join tokens never appear in returns, comments, changes or logs. Salt's state engine itself
logs each state's ``name`` at INFO level, so pass tokens with the ``token`` argument and
keep ``name`` a label (``token_registered`` also accepts the token as ``name``, but then
Salt's own "Running state [...]" log line shows it).

.. code-block:: yaml

    microk8s-package:
      microk8s.installed:
        - channel: 1.32/stable
    microk8s-dns:
      microk8s.addon_enabled:
        - name: dns
        - require:
          - microk8s: microk8s-package
    microk8s-join:
      microk8s.cluster_joined:
        - name: 10.1.0.11,10.1.0.12
        - token: {{ pillar['microk8s']['join_token'] | yaml_dquote }}
        - worker: True

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import logging
import re

import salt.utils.data
from salt.exceptions import CommandExecutionError
from salt.exceptions import SaltInvocationError

import common_lib.state as _state
import microk8s_lib.cluster as _cluster
import microk8s_lib.constants as _const
import microk8s_lib.tokens as _tokens
import microk8s_lib.upgrade as _upgrade
import microk8s_lib.validate as _validate

log = logging.getLogger(__name__)

__virtualname__ = "microk8s"

TOKEN_LABEL = "<join token>"  # noqa: S105 (shown instead of the token)
# Said (without the token) when a state's name holds a join token.
_REFUSED_NAME = (
    "name: looks like a join token, refused: Salt shows a state's name in its return key, its "
    "__id__ and the job cache. Give a label (e.g. the node's minion id, or the control-plane "
    "address IP[:PORT]) as name and the token with token_pillar (a pillar key), then rotate "
    "the token: it is in this job's data"
)
_NOT_INSTALLED = "MicroK8s is not installed"


def __virtual__():
    if "microk8s.status" in __salt__:
        return __virtualname__
    return False, "the microk8s execution module is not available"


_ret = _state.new
_error = _state.error


def _test():
    return bool(__opts__.get("test"))


def _prerequisite_missing(ret, message):
    """A prerequisite is missing: None in test mode (an earlier state may fix it), else False."""
    return _state.prerequisite_missing(ret, message, _test())


def _is_installed() -> bool:
    return bool(__salt__["microk8s.installed"]())


def _running_status(ret, what):
    """Return the status, or None after filling ``ret`` when MicroK8s is absent or stopped."""
    if not _is_installed():
        _prerequisite_missing(ret, f"{_NOT_INSTALLED}: cannot {what}")
        return None
    current = __salt__["microk8s.status"]()
    if not current["running"]:
        _prerequisite_missing(ret, f"MicroK8s is not running: cannot {what}")
        return None
    return current


def installed(name, channel="1.32/stable"):
    """
    The MicroK8s snap is installed (from ``channel`` when it is not installed yet).

    A node that tracks another channel is left as it is, with a comment: moving a cluster to
    another channel is a rolling upgrade, one node at a time with drains
    (``salt-run state.orchestrate orch.upgrade``, which applies ``microk8s.upgraded`` to each
    node in turn), never every node at once from a highstate.

    name
        Only ``microk8s`` (the snap's name).
    channel
        Snap channel, e.g. ``1.32/stable``. Defaults to ``1.32/stable``.
    """
    ret = _ret(name)
    try:
        _check_snap_arguments(name, channel)
        current = __salt__["microk8s.installed"]()
        if current and _upgrade.same_channel(current["channel"], channel):
            ret["comment"] = f"MicroK8s {current['version']} is installed from {channel}"
            return ret
        if current:
            ret["comment"] = (
                f"MicroK8s {current['version']} is installed from {current['channel']}; left "
                f"there: {channel} is reached by a rolling upgrade "
                "(salt-run state.orchestrate orch.upgrade), not by this state"
            )
            return ret
        ret["changes"] = {"installed": {"old": None, "new": channel}}
        if _test():
            ret["result"] = None
            ret["comment"] = f"MicroK8s would have been installed from {channel}"
            return ret
        after = __salt__["microk8s.install"](channel)
        if not after or not _upgrade.same_channel(after["channel"], channel):
            ret["changes"] = {}
            return _error(ret, f"MicroK8s was installed but snap list shows {after or 'nothing'}")
        ret["comment"] = f"MicroK8s {after['version']} installed from {channel}"
    except (CommandExecutionError, SaltInvocationError) as err:
        ret["changes"] = {}
        _state.failed(ret, err, _test())
    return ret


def _check_snap_arguments(name, channel):
    """The arguments ``installed`` and ``upgraded`` share, refused before any command."""
    if name != "microk8s":
        raise SaltInvocationError(f"name: the snap is called 'microk8s', not {name!r}")
    try:
        _validate.channel(channel)
    except ValueError as err:
        raise SaltInvocationError(str(err)) from None


def upgraded(name, channel):
    """
    This node's MicroK8s snap tracks ``channel``: ``snap refresh microk8s --channel=...`` when
    it tracks the previous minor (or another risk of the same one). Refuses a downgrade, a
    skipped minor and a change of confinement, before touching anything. One node's step of a
    rolling upgrade: ``orch.upgrade`` drains the node before and waits for it, then
    uncordons it, after (see docs/operations.md).

    name
        Only ``microk8s`` (the snap's name).
    channel
        Snap channel, e.g. ``1.33/stable``.
    """
    ret = _ret(name)
    try:
        _check_snap_arguments(name, channel)
        current = __salt__["microk8s.installed"]()
        if not current:
            return _prerequisite_missing(ret, f"{_NOT_INSTALLED}: cannot upgrade it")
        try:
            kind = _upgrade.step(current["channel"], channel)
        except ValueError as err:
            return _error(ret, f"refusing to refresh MicroK8s: {err}")
        if kind == "none":
            ret["comment"] = f"MicroK8s {current['version']} already tracks {channel}"
            return ret
        ret["changes"] = {"channel": {"old": current["channel"], "new": channel}}
        if _test():
            ret["result"] = None
            ret["comment"] = (
                f"MicroK8s {current['version']} would have been refreshed from "
                f"{current['channel']} to {channel}"
            )
            return ret
        after = __salt__["microk8s.refresh"](channel)
        if not after or not _upgrade.same_channel(after["channel"], channel):
            ret["changes"] = {}
            return _error(ret, f"MicroK8s was refreshed but snap list shows {after or 'nothing'}")
        ret["changes"]["version"] = {"old": current["version"], "new": after["version"]}
        ret["comment"] = (
            f"MicroK8s refreshed from {current['channel']} ({current['version']}) to "
            f"{channel} ({after['version']})"
        )
    except (CommandExecutionError, SaltInvocationError) as err:
        ret["changes"] = {}
        _state.failed(ret, err, _test())
    return ret


def running(name):
    """
    MicroK8s runs on this node (starts it and waits until it is ready).

    name
        A label, e.g. ``microk8s``.
    """
    ret = _ret(name)
    try:
        if not _is_installed():
            return _prerequisite_missing(ret, f"{_NOT_INSTALLED}: cannot start it")
        current = __salt__["microk8s.status"]()
        if current["running"]:
            ret["comment"] = f"MicroK8s is running ({current['role']})"
            return ret
        ret["changes"] = {"running": {"old": False, "new": True}}
        if _test():
            ret["result"] = None
            ret["comment"] = "MicroK8s would have been started"
            return ret
        __salt__["microk8s.start"]()
        after = __salt__["microk8s.status"](wait_ready=current["role"] != _const.ROLE_WORKER)
        if not after["running"]:
            ret["changes"] = {}
            return _error(ret, "MicroK8s was started but is still not running/ready")
        ret["comment"] = "MicroK8s started"
    except (CommandExecutionError, SaltInvocationError) as err:
        ret["changes"] = {}
        _state.failed(ret, err, _test())
    return ret


def _addon_state(name, wanted, args=None):
    ret = _ret(name)
    try:
        try:
            _, addon_name = _validate.addon(name)
            _validate.addon_args(args)
        except ValueError as err:
            raise SaltInvocationError(str(err)) from None
        if wanted == "disabled" and addon_name in (
            _const.REFUSED_DISABLE_ADDONS | _const.UNDISABLEABLE_ADDONS
        ):
            raise SaltInvocationError(f"name: {addon_name} cannot be disabled by this state")
        if __salt__["microk8s.is_worker"]():
            return _error(
                ret,
                f"this node is a worker: addons are cluster-wide, manage {name} on a "
                "control-plane node",
            )
        if _running_status(ret, f"check addon {name}") is None:
            return ret
        current = __salt__["microk8s.addon_status"](name)
        if current == wanted:
            ret["comment"] = f"Addon {name} is already {wanted}"
            if args and wanted == "enabled":
                ret["comment"] += " (its args are only applied when it gets enabled)"
            return ret
        ret["changes"] = {name: {"old": current, "new": wanted}}
        if _test():
            ret["result"] = None
            ret["comment"] = f"Addon {name} would have been {wanted}"
            return ret
        if wanted == "enabled":
            __salt__["microk8s.enable"](name, args=args)
        else:
            __salt__["microk8s.disable"](name)
        after = __salt__["microk8s.addon_status"](name)
        if after != wanted:
            ret["changes"] = {}
            return _error(ret, f"microk8s ran for addon {name}, but status still says {after}")
        ret["comment"] = f"Addon {name} {wanted}"
    except (CommandExecutionError, SaltInvocationError) as err:
        ret["changes"] = {}
        _state.failed(ret, err, _test())
    return ret


def addon_enabled(name, args=None):
    """
    Addon ``name`` is enabled (on a control-plane node).

    name
        ``name`` or ``repo/name``, e.g. ``dns``, ``core/metrics-server``.
    args
        Arguments used when enabling it (string or list), e.g. the metallb address range.
        An addon already enabled is left alone even if its args differ.
    """
    return _addon_state(name, "enabled", args=args)


def addon_disabled(name):
    """
    Addon ``name`` is disabled (on a control-plane node). ``ha-cluster``, ``helm`` and
    ``helm3`` are refused.

    name
        ``name`` or ``repo/name``.
    """
    return _addon_state(name, "disabled")


def token_registered(name, ttl=None, token=None, margin=None, token_pillar=None):
    """
    On a control plane, join token ``token`` (or ``name`` when ``token`` is not given) is
    registered and stays valid for at least ``margin`` seconds; otherwise every earlier line
    for it is dropped from ``cluster-tokens.txt`` (an expired line would shadow a new one)
    and it is registered again with ``microk8s add-node --token ... --token-ttl ttl``.

    name
        A label for the token (e.g. the joining node's id). A token-shaped name (32 or more
        letters and digits) is refused: Salt puts a state's name in its return key, its
        ``__id__`` and the job cache.
    ttl
        Seconds the registration lasts; the token is reusable until then. None: single use.
    token
        The token (at least 32 characters). Prefer ``token_pillar``: the rendered SLS, which
        Salt logs at debug level, then never holds it.
    margin
        Re-register when less than this many seconds are left. Defaults to half the TTL,
        at most one hour.
    token_pillar
        Pillar key (``a:b:c``) holding the token, read here from ``__pillar__``: the token
        then never passes through the rendered SLS, which Salt logs at debug level.
    """
    if _validate.looks_like_token(name):
        return _error(_ret(TOKEN_LABEL), _REFUSED_NAME)
    ret = _ret(name)
    try:
        if token is None and token_pillar is None:
            raise SaltInvocationError(
                "token_pillar: give the pillar key holding the join token (or token)"
            )
        secret, argument = _secret(name, token, token_pillar)
        if secret == name:
            return _error(_ret(TOKEN_LABEL), _REFUSED_NAME)
        try:
            _validate.token(secret, argument=argument)
            seconds = _validate.ttl(ttl)
            wanted_margin = (
                _tokens.default_margin(seconds)
                if margin is None
                else _validate.seconds(margin, "margin")
            )
        except ValueError as err:
            raise SaltInvocationError(str(err)) from None
        if __salt__["microk8s.is_worker"]():
            return _error(ret, "this node is a worker: join tokens live on control planes")
        if not _is_installed():
            return _prerequisite_missing(ret, f"{_NOT_INSTALLED}: cannot register a join token")
        standing = __salt__["microk8s.token_standing"](secret, margin=wanted_margin)
        good = {_tokens.VALID} if seconds else {_tokens.VALID, _tokens.SINGLE_USE}
        if standing in good:
            ret["comment"] = "The join token is registered"
            return ret
        ret["changes"] = {"token": {"old": standing, "new": "registered"}}
        if seconds:
            ret["changes"]["ttl"] = seconds
        if _test():
            ret["result"] = None
            ret["comment"] = f"The join token ({standing}) would have been registered"
            return ret
        __salt__["microk8s.register_token"](secret, ttl=seconds)
        after = __salt__["microk8s.token_standing"](secret, margin=0)
        if after not in (_tokens.VALID, _tokens.SINGLE_USE):
            ret["changes"] = {}
            return _error(ret, f"microk8s add-node ran, but the join token is still {after}")
        ret["comment"] = "The join token was registered"
    except (CommandExecutionError, SaltInvocationError) as err:
        ret["changes"] = {}
        _state.failed(ret, err, _test())
    return ret


def _secret(name, token, token_pillar):
    """Return ``(token, argument name)`` from ``token_pillar``, ``token`` or ``name``."""
    if token_pillar is not None:
        value = salt.utils.data.traverse_dict_and_list(__pillar__, token_pillar, None)
        if value is None:
            raise SaltInvocationError(f"token_pillar: pillar has no value at {token_pillar!r}")
        return value, f"token_pillar ({token_pillar})"
    if token is not None:
        return token, "token"
    return name, "name"


def _holds_token(value):
    """True when ``value`` (a name or a list of addresses) carries a join token: a join URL
    ``IP:PORT/TOKEN[/CHECK]`` or a token-shaped part."""
    items = value if isinstance(value, (list, tuple)) else [value]
    for item in items:
        if not isinstance(item, str):
            continue
        for part in re.split(r"[,\s/]+", item):
            if _validate.looks_like_token(part):
                return True
        if "/" in item:
            return True
    return False


def _targets(name, argument):
    # Salt requires a state's name to be a string: a list comes as "IP1,IP2" or as the
    # ``addresses`` argument.
    if isinstance(name, str):
        addresses = [part for part in re.split(r"[,\s]+", name) if part]
    else:
        addresses = list(name or [])
    if not addresses:
        raise SaltInvocationError(f"{argument}: give at least one control-plane address")
    targets = []
    for address in addresses:
        try:
            targets.append(_validate.address(address, argument))
        except ValueError as err:
            raise SaltInvocationError(str(err)) from None
    return targets


def _fingerprint_for(fingerprint, ip):
    # None or "" (nothing published yet): join without verifying the certificate.
    if not fingerprint:
        return None
    value = fingerprint.get(ip) if isinstance(fingerprint, dict) else fingerprint
    if not value:
        return None
    try:
        return _validate.fingerprint(value)
    except ValueError as err:
        raise SaltInvocationError(str(err)) from None


def cluster_joined(  # noqa: PLR0917 (Salt passes state arguments by name)
    name, token=None, worker=False, fingerprint=None, addresses=None, token_pillar=None
):
    """
    This node is part of the cluster of the control plane(s) ``name``; if not, it joins
    through them in turn (each attempt retried with bounded backoff when unreachable) and
    waits until it is ready. A node already in the cluster changes nothing: a worker knows
    it from its ``clustered.lock``, a control plane from its dqlite members (status). A node
    listed in ``name`` is the cluster's own control plane and is left alone.

    name
        One control-plane address ``IP[:PORT]`` (port 25000 by default), or several
        separated by commas (Salt wants a state's name to be a string), or a label when
        ``addresses`` is given. A join URL (``IP:PORT/TOKEN``) or a token-shaped name is
        refused: Salt shows a state's name in its return key, ``__id__`` and the job cache.
    addresses
        The control-plane addresses as a list, tried in turn. Defaults to ``name``.
    token
        The join token registered on those control planes (see ``token_registered``).
    token_pillar
        Pillar key (``a:b:c``) holding the token instead of ``token``, read from
        ``__pillar__``: the token then never passes through the rendered SLS, which Salt
        logs at debug level.
    worker
        Join as a worker. Defaults to False (control plane).
    fingerprint
        The join CHECK of the control plane (12+ hex characters), or a mapping
        ``{ip: check}``; verifies the control plane's certificate. Defaults to no check.
    """
    if _holds_token(name) or _holds_token(addresses):
        return _error(_ret(TOKEN_LABEL), _REFUSED_NAME)
    ret = _ret(name)
    role = _const.ROLE_WORKER if worker else _const.ROLE_CONTROL_PLANE
    try:
        targets, token, checks = _join_arguments(name, token, fingerprint, addresses, token_pillar)
        label = ", ".join(f"{ip}:{port}" for ip, port in targets)
        if not _is_installed():
            return _prerequisite_missing(ret, f"{_NOT_INSTALLED}: cannot join {label}")
        ips = [ip for ip, _ in targets]
        verdict, comment = _cluster.standing(
            ips, __salt__["microk8s.node_addresses"](), __salt__["microk8s.is_worker"](), worker
        )
        if verdict == _cluster.JOIN:
            current = __salt__["microk8s.status"]()
            if not current["running"]:
                return _prerequisite_missing(ret, f"MicroK8s is not running: cannot join {label}")
            verdict, comment = _cluster.membership(ips, current, worker, label)
        if verdict == _cluster.REFUSED:
            return _error(ret, comment)
        if verdict == _cluster.MEMBER:
            ret["comment"] = comment
            return ret
        ret["changes"] = {"joined": {"old": False, "new": True}, "role": role}
        if _test():
            ret["result"] = None
            ret["comment"] = f"This node would have joined the cluster at {label} as a {role}"
            return ret
        return _join_through(ret, targets, token, checks, worker)
    except (CommandExecutionError, SaltInvocationError) as err:
        ret["changes"] = {}
        return _state.failed(ret, err, _test())


def _join_arguments(name, token, fingerprint, addresses, token_pillar):
    """The checked ``(targets, token, checks)`` of ``cluster_joined``, before any command."""
    if addresses is not None:
        targets = _targets(addresses, "addresses")
    else:
        targets = _targets(name, "name")
    if token is None and token_pillar is None:
        raise SaltInvocationError("token: give the join token (or token_pillar)")
    token, argument = _secret(name, token, token_pillar)
    try:
        _validate.token(token, argument=argument)
    except ValueError as err:
        raise SaltInvocationError(str(err)) from None
    return targets, token, {ip: _fingerprint_for(fingerprint, ip) for ip, _ in targets}


def _join_through(ret, targets, token, checks, worker):
    """Join through each control plane in turn until one takes the node; then check it."""
    role = ret["changes"]["role"]
    failures = []
    for ip, port in targets:
        connection = f"{ip}:{port}/{token}"
        if checks[ip]:
            connection += f"/{checks[ip]}"
        try:
            joined = __salt__["microk8s.join"](connection, worker=worker)
        except CommandExecutionError as err:
            failures.append(str(err))
            continue
        ret["comment"] = f"Joined the cluster through {joined['address']} as a {role}"
        if worker and not __salt__["microk8s.is_worker"]():
            ret["result"] = False
            ret["comment"] += ", but MicroK8s left no clustered.lock"
        elif not __salt__["microk8s.status"](wait_ready=not worker)["running"]:
            # The join happened (changes stay), but the node did not become ready.
            ret["result"] = False
            ret["comment"] += ", but the node is not running/ready yet; check it and re-run"
        return ret
    ret["changes"] = {}
    return _error(ret, "could not join the cluster: " + " | ".join(failures))


def _listed(name):
    return any(name in (node["name"], node["address"]) for node in __salt__["microk8s.nodes"]())


def node_removed(name, force=False):
    """
    On a control plane: node ``name`` (node name or IP) is not in the cluster, neither in
    Kubernetes nor in dqlite; otherwise ``microk8s remove-node``.

    name
        Kubernetes node name or InternalIP.
    force
        Remove it even if it is still a dqlite member (a node gone for good). Defaults to
        False.
    """
    ret = _ret(name)
    try:
        try:
            _validate.node(name)
        except ValueError as err:
            raise SaltInvocationError(str(err)) from None
        if __salt__["microk8s.is_worker"]():
            return _error(ret, "this node is a worker: remove nodes on a control plane")
        current = _running_status(ret, f"remove node {name}")
        if current is None:
            return ret
        listed = any(
            name in (node["name"], node["address"]) for node in __salt__["microk8s.nodes"]()
        )
        in_dqlite = name in _cluster.member_ips(current)
        if not listed and not in_dqlite:
            ret["comment"] = f"Node {name} is not in the cluster"
            return ret
        ret["changes"] = {"node": {"old": "present", "new": "absent"}}
        if _test():
            ret["result"] = None
            ret["comment"] = f"Node {name} would have been removed"
            return ret
        try:
            __salt__["microk8s.remove_node"](name, force=force)
        except CommandExecutionError:
            # remove-node exits 1 for a dqlite-only member even after removing it (--force).
            if listed or not force:
                raise
        if _listed(name) or name in _cluster.member_ips(__salt__["microk8s.status"]()):
            ret["changes"] = {}
            return _error(ret, f"microk8s remove-node ran, but node {name} is still there")
        ret["comment"] = f"Node {name} removed"
    except (CommandExecutionError, SaltInvocationError) as err:
        ret["changes"] = {}
        _state.failed(ret, err, _test())
    return ret


def extra_san_present(name):
    """
    ``name`` (IP or DNS name) is a subject alternative name of the API server certificate:
    it is in ``csr.conf.template`` (so every later refresh keeps it) and in ``server.crt``
    itself. Missing from the template: added. Missing from the certificate: the server
    certificate is regenerated (``refresh-certs --cert server.crt``, which also changes the
    join fingerprint); a failed refresh is retried by the next run, which compares against
    ``server.crt``, not the template. On a worker the state fails: workers serve no API and
    MicroK8s refreshes certificates on the control planes only.

    name
        IP address or DNS name.
    """
    ret = _ret(name)
    try:
        try:
            kind, value = _validate.san(name)
        except ValueError as err:
            raise SaltInvocationError(str(err)) from None
        if not _is_installed():
            return _prerequisite_missing(ret, f"{_NOT_INSTALLED}: cannot add SAN {name}")
        if __salt__["microk8s.is_worker"]():
            return _error(
                ret,
                "this node is a worker: it serves no API and MicroK8s refreshes the server "
                "certificate on the control planes only (microk8s refresh-certs on a worker "
                f"only says so); apply extra_san_present for {name} there",
            )
        template = __salt__["microk8s.extra_sans"]()
        certificate = __salt__["microk8s.server_cert_sans"]()
        in_template = any(_same_san(kind, value, existing) for existing in template)
        in_certificate = any(_same_san(kind, value, existing) for existing in certificate)
        if in_template and in_certificate:
            ret["comment"] = f"{name} is already a SAN of the server certificate"
            return ret
        if not in_template:
            ret["changes"]["extra_sans"] = {"old": template, "new": [*template, value]}
        if not in_certificate:
            ret["changes"]["server.crt"] = {"old": certificate, "new": [*certificate, value]}
        if _test():
            ret["result"] = None
            ret["comment"] = f"{name} would have been added" + (
                " and the server certificate refreshed" if not in_certificate else ""
            )
            return ret
        if not in_template:
            __salt__["microk8s.add_extra_san"](value)
        if in_certificate:
            ret["comment"] = f"{name} added to csr.conf.template (server.crt already has it)"
            return ret
        try:
            __salt__["microk8s.refresh_certs"]("server.crt")
        except CommandExecutionError as err:
            ret["changes"].pop("server.crt")
            return _error(
                ret,
                f"{name} is in csr.conf.template, but refreshing server.crt failed; the next "
                f"run refreshes it again: {err}",
            )
        after = __salt__["microk8s.server_cert_sans"]()
        if not any(_same_san(kind, value, existing) for existing in after):
            ret["changes"].pop("server.crt")
            return _error(
                ret,
                f"microk8s refresh-certs ran, but server.crt still lacks {name}; check "
                "csr.conf.template and 'microk8s refresh-certs --cert server.crt'",
            )
        ret["comment"] = f"{name} added; server certificate refreshed"
    except (CommandExecutionError, SaltInvocationError) as err:
        ret["changes"] = {}
        _state.failed(ret, err, _test())
    return ret


def _same_san(kind, value, existing):
    try:
        other_kind, other = _validate.san(existing)
    except ValueError:
        return False
    return other_kind == kind and other == value
