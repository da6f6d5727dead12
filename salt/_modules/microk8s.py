"""Execution module for MicroK8s: status, snap install, addons, clustering, certificates.

Every command runs through ``cmd.run_all`` with an argv list (no shell), its stdin closed
(so no interactive prompt can hang) and its output kept out of Salt's logs
(``output_loglevel="quiet"``): ``add-node`` prints the join token and ``join`` takes it as
an argument. This module logs the argv itself with tokens masked. Parsing lives in the pure
helpers of ``microk8s_lib`` (``salt/_utils/microk8s_lib``).

Minion options (all optional):

``microk8s.snap_data``
    MicroK8s' snap data directory. Defaults to ``/var/snap/microk8s/current``.
``microk8s.bin`` / ``microk8s.snap_bin``
    The ``microk8s`` / ``snap`` executables. Default: found on PATH, else ``/snap/bin/microk8s``
    and ``/usr/bin/snap``.
``microk8s.node_address``
    This node's cluster address (IPv4); used by ``join_info`` and by the
    ``microk8s.cluster_joined`` state to recognise the node itself.
``microk8s.join_attempts`` / ``microk8s.join_backoff`` / ``microk8s.join_backoff_max``
    Bounded retries of a join that cannot reach the control plane: 4 attempts (1 to 100),
    sleeping 2 s, then twice as long each time, never more than 30 s (at most 3600), the
    first sleep included.
``microk8s.ready_timeout``
    Seconds to wait for readiness after a start or a join (default 300; 0: Salt's command
    timeout).

A bad value of one of these options (not a number, out of range) raises an error naming the
option before any command runs.

Read-only look-ups (``status``, ``installed``, ``nodes``) are cached in ``__context__`` under
``microk8s.*`` keys for the rest of the job; every function that changes something drops them.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import logging
import os
import pathlib
import time

import salt.utils.path
import salt.utils.platform
from salt.exceptions import CommandExecutionError
from salt.exceptions import SaltInvocationError

import common_lib.command as _command
import common_lib.options as _options
import microk8s_lib.backup as _backup
import microk8s_lib.certs as _certs
import microk8s_lib.cluster as _cluster
import microk8s_lib.constants as _const
import microk8s_lib.csr as _csr
import microk8s_lib.files as _files
import microk8s_lib.kubeconfig as _kubeconfig
import microk8s_lib.snap as _snap
import microk8s_lib.status as _status
import microk8s_lib.tokens as _tokens
import microk8s_lib.upgrade as _upgrade
import microk8s_lib.validate as _validate

log = logging.getLogger(__name__)

__virtualname__ = "microk8s"

CONTEXT_PREFIX = "microk8s."
_STATUS_KEY = "microk8s.status"
_INSTALLED_KEY = "microk8s.installed"
_NODES_KEY = "microk8s.nodes"
_SERVICES_KEY = "microk8s.snap_services"

DEFAULT_TIMEOUT = 300  # seconds any single MicroK8s command may take
# Bounds of the join retries (minion options microk8s.join_attempts / join_backoff_max).
MAX_JOIN_ATTEMPTS = 100
MAX_JOIN_BACKOFF = 3600


def __virtual__():
    if salt.utils.platform.is_linux():
        return __virtualname__
    return False, "MicroK8s (a snap) only runs on Linux"


# --- configuration and plumbing ---------------------------------------------------------------


def _opt(name, default=None):
    return _options.option(__opts__, "microk8s", name, default)


def _number_opt(name, default, *, integer=False, minimum=0, maximum=None):
    """A numeric minion option, checked: a bad value names the option and where to fix it."""
    argument = f"minion option microk8s.{name}"
    try:
        if integer:
            return _validate.whole_number(_opt(name, default), argument, minimum, maximum)
        return _validate.seconds(_opt(name, default), argument, minimum, maximum)
    except ValueError as err:
        raise SaltInvocationError(
            f"{err} (set in /etc/salt/minion or /etc/salt/minion.d/*.conf)"
        ) from None


def _snap_data() -> pathlib.Path:
    return pathlib.Path(_opt("snap_data", _const.DEFAULT_SNAP_DATA))


def _data_path(relative: str) -> pathlib.Path:
    return _snap_data() / relative


def _microk8s_bin() -> str:
    configured = _opt("bin")
    if configured:
        return str(configured)
    return salt.utils.path.which("microk8s") or f"{_const.DEFAULT_SNAP_BIN}/microk8s"


def _snap_bin() -> str:
    configured = _opt("snap_bin")
    if configured:
        return str(configured)
    return salt.utils.path.which("snap") or "/usr/bin/snap"


def _invalid(err: ValueError):
    return SaltInvocationError(str(err))


def _drop_cache():
    """Forget every cached look-up: called by every function that changes something."""
    for key in [k for k in __context__ if str(k).startswith(CONTEXT_PREFIX)]:
        __context__.pop(key, None)


def _run(argv, secrets=(), timeout=DEFAULT_TIMEOUT, stdin="", keep_raw_stdout=False):
    """Run ``argv`` (``common_lib.command.run``); return ``{"retcode", "stdout", "stderr"}``
    with secrets masked.

    With ``keep_raw_stdout`` the unmasked stdout is also returned as ``raw_stdout``, for a
    caller that must parse a secret out of it (``add-node``).

    ``stdin=""`` gives the command an empty, closed stdin: MicroK8s hooks that prompt
    (metallb without a range, hostpath-storage disable) read EOF instead of hanging.
    """
    program = "snap" if argv[0].endswith("snap") else "microk8s"
    result = _command.run(
        __salt__["cmd.run_all"],
        argv,
        secrets=secrets,
        stdin=stdin,
        timeout=timeout,
        cannot_run=f"Is the {program} command installed? (state microk8s.installed)",
    )
    if not keep_raw_stdout:
        del result["raw_stdout"]
    return result


def _fail(what: str, result, advice: str = "") -> CommandExecutionError:
    text = _command.output(result).strip()
    message = f"{what} failed (exit {result['retcode']})"
    if text:
        message += f": {_status.explain_failure(text, unexpected=False)}"
    if advice:
        message += f". {advice}"
    return CommandExecutionError(message)


def _microk8s(*args, secrets=(), timeout=DEFAULT_TIMEOUT):
    return _run([_microk8s_bin(), *args], secrets=secrets, timeout=timeout)


def _is_worker_node() -> bool:
    return _data_path(_const.WORKER_LOCK).exists()


def _reject_worker(what: str):
    if _is_worker_node():
        raise CommandExecutionError(
            f"{what}: this node is a MicroK8s worker (it has clustered.lock); run it on a "
            "control-plane node"
        )


# --- status and versions ----------------------------------------------------------------------


def _snap_services() -> dict:
    if _SERVICES_KEY not in __context__:
        result = _run([_snap_bin(), "services", "microk8s"])
        if result["retcode"] != 0:
            raise _fail("snap services microk8s", result)
        try:
            __context__[_SERVICES_KEY] = _snap.parse_snap_services(result["stdout"])
        except ValueError as err:
            raise CommandExecutionError(str(err)) from None
    return __context__[_SERVICES_KEY]


def _worker_status() -> dict:
    result = _status.empty_status(running=True, role=_const.ROLE_WORKER)
    result["running"] = _snap.services_running(_snap_services())
    return result


def status(wait_ready=False, timeout=None):
    """
    Return the node's MicroK8s status.

    ``{"running": bool, "role": "control-plane"|"worker", "high_availability": {"enabled":
    bool, "nodes": [{"address": "IP:PORT", "role": "voter"|"standby"|"spare"}]}, "addons":
    {NAME: {"status": "enabled"|"disabled", "repository", "description", "version"}}}``.

    A worker node prints no status (MicroK8s sends you to the control plane): its role is
    ``worker``, its addons and nodes are empty and ``running`` comes from
    ``snap services microk8s``. A stopped node gives ``running: False``.

    wait_ready
        Wait until the node is ready (``--wait-ready``). Defaults to False.
    timeout
        With ``wait_ready``, give up after this many seconds (0: wait forever, capped by
        Salt's command timeout). Defaults to ``microk8s.ready_timeout`` (300).

    CLI Example:

    .. code-block:: bash

        salt '*' microk8s.status
        salt '*' microk8s.status wait_ready=True timeout=60
    """
    if timeout is not None:
        try:
            timeout = int(timeout)
        except (TypeError, ValueError):
            raise SaltInvocationError(f"timeout: expected seconds, got {timeout!r}") from None
        if timeout < 0:
            raise SaltInvocationError("timeout: must not be negative")
    if not wait_ready and _STATUS_KEY in __context__:
        return __context__[_STATUS_KEY]
    if _is_worker_node():
        result = _worker_status()
        __context__[_STATUS_KEY] = result
        return result
    argv = ["status", "--format", "yaml"]
    command_timeout = DEFAULT_TIMEOUT
    if wait_ready:
        if timeout is None:
            timeout = _number_opt("ready_timeout", DEFAULT_TIMEOUT, integer=True)
        argv += ["--wait-ready", "--timeout", str(timeout)]
        command_timeout = (timeout or DEFAULT_TIMEOUT) + 30
    run = _microk8s(*argv, timeout=command_timeout)
    if run["retcode"] not in (0, 1):
        raise _fail("microk8s status", run)
    try:
        result = _status.parse_status(run["stdout"])
    except ValueError:
        raise CommandExecutionError(
            f"microk8s status failed (exit {run['retcode']}): "
            f"{_status.explain_failure(_command.output(run))}"
        ) from None
    if result["role"] == _const.ROLE_WORKER:
        result = _worker_status()
    elif not result["running"] and _data_path(_const.HA_LOCK).exists():
        result["high_availability"]["enabled"] = True
    __context__[_STATUS_KEY] = result
    return result


def is_running():
    """
    Return True when MicroK8s runs on this node (see ``microk8s.status``).

    CLI Example:

    .. code-block:: bash

        salt '*' microk8s.is_running
    """
    return status()["running"]


def is_worker():
    """
    Return True when this node joined a cluster as a worker (``clustered.lock`` present).

    CLI Example:

    .. code-block:: bash

        salt '*' microk8s.is_worker
    """
    return _is_worker_node()


def version():
    """
    Return the MicroK8s version and snap revision: ``{"version": "1.32.3", "revision": "7964"}``.

    CLI Example:

    .. code-block:: bash

        salt '*' microk8s.version
    """
    run = _microk8s("version")
    if run["retcode"] != 0:
        raise _fail("microk8s version", run, "MicroK8s older than 1.25 has no 'version'")
    try:
        return _snap.parse_version(run["stdout"])
    except ValueError as err:
        raise CommandExecutionError(str(err)) from None


def installed():
    """
    Return the installed MicroK8s snap, ``{"channel", "version", "revision"}``, or ``{}``.

    CLI Example:

    .. code-block:: bash

        salt '*' microk8s.installed
    """
    if _INSTALLED_KEY in __context__:
        return __context__[_INSTALLED_KEY]
    run = _run([_snap_bin(), "list", "microk8s"])
    if run["retcode"] != 0:
        if _const.MSG_SNAP_NOT_INSTALLED in _command.output(run):
            __context__[_INSTALLED_KEY] = {}
            return {}
        raise _fail("snap list microk8s", run, "Is snapd installed and running?")
    try:
        result = _snap.parse_snap_list(run["stdout"])
    except ValueError as err:
        raise CommandExecutionError(str(err)) from None
    __context__[_INSTALLED_KEY] = result
    return result


def _channel_argv(verb: str, channel: str) -> list[str]:
    try:
        _validate.channel(channel)
    except ValueError as err:
        raise _invalid(err) from None
    argv = [_snap_bin(), verb, "microk8s", f"--channel={channel}"]
    if verb == "install" and not _validate.is_strict_channel(channel):
        argv.insert(3, "--classic")
    return argv


def install(channel="1.32/stable"):
    """
    Install the MicroK8s snap from ``channel`` (classic confinement except on ``-strict``
    tracks). Does nothing when it is already installed (use ``microk8s.refresh`` to change
    the channel). Returns ``microk8s.installed()``.

    channel
        Snap channel, e.g. ``1.32/stable``. Defaults to ``1.32/stable``.

    CLI Example:

    .. code-block:: bash

        salt '*' microk8s.install channel=1.32/stable
    """
    argv = _channel_argv("install", channel)
    if installed():
        return installed()
    _drop_cache()
    run = _run(argv, timeout=900)
    if run["retcode"] != 0:
        raise _fail(f"snap install microk8s --channel={channel}", run)
    _drop_cache()
    return installed()


def refresh(channel):
    """
    Move the MicroK8s snap to ``channel`` (``snap refresh microk8s --channel=...``).
    Returns ``microk8s.installed()``.

    channel
        Snap channel, e.g. ``1.33/stable``.

    CLI Example:

    .. code-block:: bash

        salt '*' microk8s.refresh channel=1.33/stable
    """
    argv = _channel_argv("refresh", channel)
    _drop_cache()
    run = _run(argv, timeout=900)
    if run["retcode"] != 0:
        raise _fail(f"snap refresh microk8s --channel={channel}", run)
    _drop_cache()
    return installed()


def _start_or_stop(verb, doing):
    """``microk8s <verb>`` (``snap <verb> microk8s`` on a worker); the cached status is
    dropped before and after."""
    worker = _is_worker_node()
    _drop_cache()
    if worker:
        run = _run([_snap_bin(), verb, "microk8s"])
    else:
        run = _microk8s(verb)
    _drop_cache()
    if run["retcode"] != 0:
        raise _fail(doing, run)
    return True


def start():
    """
    Start MicroK8s (``microk8s start``; ``snap start microk8s`` on a worker).

    CLI Example:

    .. code-block:: bash

        salt '*' microk8s.start
    """
    return _start_or_stop("start", "starting MicroK8s")


def stop():
    """
    Stop MicroK8s (``microk8s stop``; ``snap stop microk8s`` on a worker).

    CLI Example:

    .. code-block:: bash

        salt '*' microk8s.stop
    """
    return _start_or_stop("stop", "stopping MicroK8s")


def config():
    """
    Return the admin kubeconfig of the cluster (``microk8s config``). It holds the admin's
    client key: handle it as a secret.

    CLI Example:

    .. code-block:: bash

        salt '*' microk8s.config
    """
    _reject_worker("microk8s config")
    run = _microk8s("config")
    if run["retcode"] != 0 or _status.is_worker_text(run["stdout"]):
        raise _fail("microk8s config", run)
    return run["stdout"]


def _pillar_api_address():
    microk8s = (__pillar__.get("kubesalt") or {}).get("microk8s") or {}
    return microk8s.get("api_address") or microk8s.get("floating_ip")


def write_kubeconfig(path, server=None, user=None, name=None):
    """
    Write the operator's kubeconfig to ``path`` on this control plane: ``microk8s config``
    (the cluster's CA and the admin credential) with the server set to the cluster's API
    address, mode 0600, owned by ``user``. The credential never leaves this host through
    Salt: it is not returned, not logged and not in the job cache; the return says only
    where the file is and what it points at. Fetch the file over ssh through the bastion
    (see docs/operations.md).

    path
        Absolute path of the file to write (its directory must exist).
    server
        The API address: an IP or DNS name (port 16443 is added) or an ``https://`` URL.
        Defaults to pillar ``kubesalt:microk8s:api_address`` (the load balancer), else
        ``kubesalt:microk8s:floating_ip``.
    user
        Owner of the file (default: root). Its group becomes the user's primary group.
    name
        Name of the cluster, context and (``<name>-admin``) user in the file, so it merges
        into an existing kubeconfig. Defaults to MicroK8s' names.

    CLI Example:

    .. code-block:: bash

        salt '*' microk8s.write_kubeconfig /home/admin/kubesalt.kubeconfig user=admin name=kubesalt
    """
    target = pathlib.Path(str(path))
    if not target.is_absolute() or target.name in ("", ".", ".."):
        raise SaltInvocationError(f"path: an absolute file path, not {path!r}")
    if not target.parent.is_dir():
        raise SaltInvocationError(f"path: directory {str(target.parent)!r} does not exist")
    address = server or _pillar_api_address()
    if not address:
        raise SaltInvocationError(
            "server: not given and pillar kubesalt:microk8s:api_address / floating_ip unset"
        )
    try:
        url = _kubeconfig.api_url(address)
    except ValueError as err:
        raise _invalid(err) from None
    try:
        owner = None if user is None else _files.owner_ids(user)
    except ValueError as err:
        raise _invalid(err) from None
    try:
        text, info = _kubeconfig.for_operator(config(), url, name=name)
    except ValueError as err:
        raise CommandExecutionError(str(err)) from None
    _files.replace(target, text, 0o600, owner)
    return {"path": str(target), "mode": "0600", "owner": str(user or "root"), **info}


DEFAULT_BACKUP_DIR = "/var/snap/microk8s/common/backups"


BACKUP_UPLOAD_DIR = "kubesalt-backups"  # under the master's minions/<id>/files/


def backup(directory=DEFAULT_BACKUP_DIR, keep=7, push=False):
    """
    Back up the Kubernetes datastore (``microk8s dbctl backup -o DIR/backup-<UTC time>``)
    into ``directory`` (created 0700) and keep only the ``keep`` newest archives there.
    Returns ``{"archive", "size", "seconds", "removed": [older archives], "pushed"}``. Runs
    on a control plane; the archive holds every Secret of the cluster: keep it private.

    With ``push=True`` the archive also goes to the salt master with ``cp.push`` (the
    master's ``file_recv``, size-limited by ``file_recv_max_size``; the file travels over
    the minion's encrypted channel and never through a job return or the job cache) into
    ``<master cachedir>/minions/<id>/files/kubesalt-backups/``, from where the runner
    ``microk8s_backup.collect`` moves it to the master's persistent volume (``orch.backup``).

    directory
        Where the archives go (default ``/var/snap/microk8s/common/backups``).
    keep
        How many archives to keep (default 7; at least 1).
    push
        Also send the archive to the salt master (default False).

    CLI Example:

    .. code-block:: bash

        salt '*' microk8s.backup keep=14 push=True
    """
    folder = pathlib.Path(str(directory))
    if not folder.is_absolute():
        raise SaltInvocationError(f"directory: an absolute path, not {directory!r}")
    try:
        keep = _backup.keep_count(keep)
    except ValueError as err:
        raise _invalid(err) from None
    _reject_worker("microk8s dbctl backup")
    _backup.private_folder(folder)
    name = _backup.archive_base(folder, time.time())
    started = time.monotonic()
    run = _microk8s("dbctl", "backup", "-o", str(name), timeout=1800)
    seconds = round(time.monotonic() - started, 2)
    archive = pathlib.Path(f"{name}.tar.gz")
    if run["retcode"] != 0 or not archive.is_file():
        advice = (
            "MicroK8s must run with its HA datastore (microk8s status)"
            if run["retcode"] == 10
            else ""
        )
        raise _fail("microk8s dbctl backup", run, advice)
    os.chmod(archive, 0o600)
    removed = _backup.prune(folder, keep)
    pushed = False
    if push:
        upload = f"{BACKUP_UPLOAD_DIR}/{archive.name}"
        pushed = bool(__salt__["cp.push"](str(archive), upload_path=upload))
        if not pushed:
            raise CommandExecutionError(
                f"the salt master refused {archive.name} ({archive.stat().st_size} bytes): its "
                "configuration needs file_recv: True and file_recv_max_size (MB) above the "
                "archive's size (state salt_master sets both); the archive stays in "
                f"{folder}"
            )
    return {
        "archive": str(archive),
        "size": archive.stat().st_size,
        "seconds": seconds,
        "removed": removed,
        "pushed": pushed,
    }


def restore(archive):
    """
    Restore the Kubernetes datastore from ``archive`` (``microk8s dbctl restore``): every
    object of the backup is written back. Runs on a control plane of the (new) cluster.
    Returns ``{"archive", "seconds"}``.

    archive
        Path of a ``backup-*.tar.gz`` made by ``microk8s.backup`` / ``microk8s dbctl backup``.

    CLI Example:

    .. code-block:: bash

        salt '*' microk8s.restore /var/snap/microk8s/common/backups/backup-2026-12-06.tar.gz
    """
    path = pathlib.Path(str(archive))
    if not path.is_absolute() or not str(path).endswith(".tar.gz"):
        raise SaltInvocationError(f"archive: an absolute path to a .tar.gz, not {archive!r}")
    if not path.is_file():
        raise SaltInvocationError(f"archive: no such file {str(path)!r} on this host")
    _reject_worker("microk8s dbctl restore")
    started = time.monotonic()
    run = _microk8s("dbctl", "restore", str(path), timeout=1800)
    if run["retcode"] != 0:
        raise _fail("microk8s dbctl restore", run, "Is it an archive of microk8s dbctl backup?")
    _drop_cache()
    return {"archive": str(path), "seconds": round(time.monotonic() - started, 2)}


def restore_from_pillar(key="kubesalt_restore", directory=DEFAULT_BACKUP_DIR):
    """
    Restore the datastore from the archive ``orch.restore`` put in this control plane's
    pillar (``{"name", "data": base64}`` under ``key``): written 0600 into ``directory``,
    restored with ``microk8s dbctl restore``, then deleted. Returns ``{"archive": name,
    "seconds"}``; fails clearly when the pillar holds no archive.

    key
        The pillar key holding the archive (default ``kubesalt_restore``).
    directory
        Where the archive is written while it is restored (default
        ``/var/snap/microk8s/common/backups``).

    CLI Example:

    .. code-block:: bash

        salt '*' microk8s.restore_from_pillar
    """
    try:
        target = _backup.write_handed_archive(
            __pillar__.get(key), key, pathlib.Path(str(directory))
        )
    except ValueError as err:
        raise CommandExecutionError(str(err)) from None
    try:
        return restore(str(target))
    finally:
        target.unlink(missing_ok=True)


# --- addons -----------------------------------------------------------------------------------


def _addon(name):
    try:
        return _validate.addon(name)
    except ValueError as err:
        raise _invalid(err) from None


def addons():
    """
    Return the addons and their status, as in ``microk8s.status`` (empty on a worker).

    CLI Example:

    .. code-block:: bash

        salt '*' microk8s.addons
    """
    return status()["addons"]


def addon_status(name):
    """
    Return ``"enabled"`` or ``"disabled"`` for addon ``name`` (``[repo/]name``) from the
    cached status; an addon MicroK8s does not list (e.g. a community addon before the
    community repository is enabled) is ``"disabled"``. On a stopped node or a worker,
    MicroK8s lists no addons: an error says so (it cannot tell) and what to do.

    name
        The addon, ``[repo/]name`` (e.g. ``dns``, ``core/dns``).

    CLI Example:

    .. code-block:: bash

        salt '*' microk8s.addon_status dns
    """
    repository, addon_name = _addon(name)
    current = status()
    if current["role"] == _const.ROLE_WORKER:
        raise CommandExecutionError(
            f"cannot tell whether addon {name} is enabled: this node is a worker, MicroK8s "
            "lists addons on the control planes only; ask a control plane"
        )
    if not current["running"]:
        raise CommandExecutionError(
            f"cannot tell whether addon {name} is enabled: MicroK8s is not running on this "
            "node and lists no addons while stopped; start it (microk8s.start or the "
            "microk8s.running state), then ask again"
        )
    entry = current["addons"].get(addon_name)
    if entry is None or (repository and entry["repository"] not in ("", repository)):
        return "disabled"
    return entry["status"]


def _check_xable(run, verb: str, name: str):
    problem = _cluster.addon_command_problem(_command.output(run), verb, name)
    if problem:
        raise CommandExecutionError(problem)


def enable(name, args=None):
    """
    Enable addon ``name`` (``microk8s enable NAME [ARGS...]``; already enabled: no change).

    name
        Addon, ``name`` or ``repo/name`` (e.g. ``dns``, ``core/metallb``).
    args
        Arguments for the addon, a string or a list (flag style, passed after the name),
        e.g. ``10.0.0.100-10.0.0.120`` for metallb. Defaults to none.

    CLI Example:

    .. code-block:: bash

        salt '*' microk8s.enable dns
        salt '*' microk8s.enable metallb args='["10.0.0.100-10.0.0.120"]'
    """
    _, addon_name = _addon(name)
    try:
        arguments = _validate.addon_args(args)
    except ValueError as err:
        raise _invalid(err) from None
    if addon_name == "metallb" and not arguments:
        # Without a range the metallb hook prompts for one on stdin.
        raise SaltInvocationError(
            "args: metallb needs an address range, e.g. 10.0.0.100-10.0.0.120"
        )
    _reject_worker(f"microk8s enable {name}")
    _drop_cache()
    run = _microk8s("enable", name, *arguments, timeout=900)
    _drop_cache()
    if run["retcode"] != 0:
        raise _fail(f"microk8s enable {name}", run)
    _check_xable(run, "enable", name)
    return True


def disable(name, force=False):
    """
    Disable addon ``name`` (``microk8s disable NAME``; already disabled: no change).
    ``ha-cluster`` is refused (disabling it resets the cluster); ``helm``/``helm3`` cannot be
    disabled. ``hostpath-storage`` keeps its data unless ``force`` (then
    ``hostpath-storage:destroy-storage`` deletes the volumes).

    name
        Addon, ``name`` or ``repo/name``.
    force
        For hostpath-storage: also delete the stored volumes. Defaults to False.

    CLI Example:

    .. code-block:: bash

        salt '*' microk8s.disable metrics-server
    """
    _, addon_name = _addon(name)
    if addon_name in _const.REFUSED_DISABLE_ADDONS:
        raise SaltInvocationError(
            f"name: refusing to disable {addon_name}: it switches the datastore and resets "
            "the cluster"
        )
    if addon_name in _const.UNDISABLEABLE_ADDONS:
        raise SaltInvocationError(f"name: {addon_name} comes with MicroK8s and cannot be disabled")
    _reject_worker(f"microk8s disable {name}")
    target = name
    if addon_name == "hostpath-storage" and force:
        target = f"{name}:destroy-storage"
    _drop_cache()
    run = _microk8s("disable", target, timeout=900)
    _drop_cache()
    if run["retcode"] != 0:
        if addon_name == "hostpath-storage" and "Remove PVC storage" in _command.output(run):
            # With stdin closed the hook declines to delete the data and exits 1 after it
            # already removed the storage class: the addon is disabled, the data kept.
            return True
        raise _fail(f"microk8s disable {name}", run)
    _check_xable(run, "disable", name)
    return True


# --- clustering -------------------------------------------------------------------------------


def add_node(token=None, ttl=None):
    """
    Register a join token on this control plane (``microk8s add-node --format json``) and
    return ``{"token": str, "check": str, "urls": ["IP:25000/TOKEN/CHECK", ...]}``.
    The return holds the token: it is the only place it is shown.

    token
        The token to register (at least 32 characters, no ``/``, ``|`` or ``help``).
        Defaults to a random one.
    ttl
        Seconds the token stays valid and reusable. Defaults to single use.

    CLI Example:

    .. code-block:: bash

        salt '*' microk8s.add_node ttl=3600
    """
    try:
        if token is not None:
            _validate.token(token)
        seconds = _validate.ttl(ttl)
    except ValueError as err:
        raise _invalid(err) from None
    _reject_worker("microk8s add-node")
    argv = ["add-node", "--format", "json"]
    secrets = []
    if token is not None:
        argv += ["--token", token]
        secrets.append(token)
    if seconds is not None:
        argv += ["--token-ttl", str(seconds)]
    _drop_cache()
    run = _run([_microk8s_bin(), *argv], secrets=secrets, keep_raw_stdout=True)
    if run["retcode"] != 0:
        raise _fail("microk8s add-node", run)
    try:
        return _cluster.parse_add_node(run["raw_stdout"])
    except ValueError as err:
        raise CommandExecutionError(f"microk8s add-node: {err}") from None


def _connection_parts(connection):
    try:
        return _validate.connection(connection)
    except ValueError as err:
        raise _invalid(err) from None


def join(connection, worker=False):
    """
    Join the cluster at ``connection`` (``IP:PORT/TOKEN[/CHECK]``) as a control plane or,
    with ``worker``, as a worker. ``--controlplane`` is never passed (it makes MicroK8s take
    the worker path). A join that cannot reach the control plane is retried with bounded
    backoff (``microk8s.join_attempts``, ``microk8s.join_backoff``); a rejected token or an
    address dqlite already knows fails at once, saying what to do.

    Returns ``{"address": "IP:PORT", "role": "control-plane"|"worker", "attempts": n}``.

    connection
        ``IP:PORT/TOKEN`` or ``IP:PORT/TOKEN/CHECK`` (IPv4 only, token >= 32 characters,
        CHECK >= 12 hex characters). Called from the command line, the connection travels
        in the job's arguments (job cache, event bus); prefer the ``microk8s.cluster_joined``
        state with the token from pillar.
    worker
        Join as a worker node. Defaults to False.

    CLI Example:

    .. code-block:: bash

        salt '*' microk8s.join 10.0.0.11:25000/<token>/<check> worker=True
    """
    parts = _connection_parts(connection)
    secrets = [parts["token"]]
    # Rebuilt from the checked parts: MicroK8s compares the CHECK with a lowercase hex digest.
    normalised = f"{parts['ip']}:{parts['port']}/{parts['token']}"
    if parts["check"]:
        normalised += f"/{parts['check']}"
    argv = [_microk8s_bin(), "join", normalised]
    if worker:
        argv.append("--worker")
    attempts = _number_opt("join_attempts", 4, integer=True, minimum=1, maximum=MAX_JOIN_ATTEMPTS)
    delay_max = _number_opt("join_backoff_max", 30, maximum=MAX_JOIN_BACKOFF)
    # Capped from the first sleep: join_backoff above join_backoff_max waits the maximum.
    delay = min(_number_opt("join_backoff", 2), delay_max)
    target = f"{parts['ip']}:{parts['port']}"
    _drop_cache()
    for attempt in range(1, attempts + 1):
        run = _run(argv, secrets=secrets, timeout=600)
        if run["retcode"] == 0:
            _drop_cache()
            return {
                "address": target,
                "role": _const.ROLE_WORKER if worker else _const.ROLE_CONTROL_PLANE,
                "attempts": attempt,
            }
        output = _command.output(run)
        kind = _cluster.classify_join_failure(run["retcode"], output)
        message = _cluster.explain_join_failure(kind, target, output)
        if kind != _cluster.JOIN_UNREACHABLE or attempt == attempts:
            _drop_cache()
            if kind == _cluster.JOIN_UNREACHABLE:
                message += f" (gave up after {attempts} attempts)"
            raise CommandExecutionError(f"microk8s join failed (exit {run['retcode']}): {message}")
        log.warning(
            "microk8s: join attempt %s/%s: %s; retrying in %.1fs", attempt, attempts, message, delay
        )
        time.sleep(delay)
        delay = min(delay * 2, delay_max)
    raise CommandExecutionError("microk8s join: no attempt was made")  # attempts >= 1


def leave():
    """
    Leave the cluster (``microk8s leave``). The node stays listed as NotReady until
    ``microk8s.remove_node`` runs on a control plane.

    CLI Example:

    .. code-block:: bash

        salt '*' microk8s.leave
    """
    _drop_cache()
    run = _microk8s("leave", timeout=600)
    _drop_cache()
    if run["retcode"] != 0:
        raise _fail("microk8s leave", run)
    return True


def remove_node(node, force=False):
    """
    Remove ``node`` (a node name or its IP) from the cluster (``microk8s remove-node NODE
    [--force]``). Use ``force`` for a node that is gone for good but still in dqlite.

    node
        Kubernetes node name or InternalIP.
    force
        Also drop it from dqlite without its cooperation. Defaults to False.

    CLI Example:

    .. code-block:: bash

        salt '*' microk8s.remove_node 10.0.0.12 force=True
    """
    try:
        _validate.node(node)
    except ValueError as err:
        raise _invalid(err) from None
    _reject_worker("microk8s remove-node")
    argv = ["remove-node", node]
    if force:
        argv.append("--force")  # must come after NODE
    _drop_cache()
    run = _microk8s(*argv, timeout=600)
    _drop_cache()
    if run["retcode"] != 0:
        advice = ""
        if "registered with dqlite" in _command.output(run):
            advice = (
                "Run 'microk8s leave' on that node first, or pass force=True if it is gone for good"
            )
        raise _fail(f"microk8s remove-node {node}", run, advice)
    return True


def nodes():
    """
    Return the cluster's nodes ``[{"name", "ready", "roles", "address"}]`` from
    ``microk8s kubectl get nodes -o json`` (roles from MicroK8s' node labels).

    CLI Example:

    .. code-block:: bash

        salt '*' microk8s.nodes
    """
    if _NODES_KEY in __context__:
        return __context__[_NODES_KEY]
    _reject_worker("microk8s kubectl get nodes")
    run = _microk8s("kubectl", "get", "nodes", "-o", "json")
    if run["retcode"] != 0 or _status.is_worker_text(run["stdout"]):
        raise _fail("microk8s kubectl get nodes", run)
    try:
        result = _cluster.parse_nodes(run["stdout"])
    except ValueError as err:
        raise CommandExecutionError(str(err)) from None
    __context__[_NODES_KEY] = result
    return result


def _kubectl_node(verb: str, node, *flags, timeout=DEFAULT_TIMEOUT):
    try:
        node = _validate.node(node)
    except ValueError as err:
        raise _invalid(err) from None
    _reject_worker(f"microk8s kubectl {verb}")
    _drop_cache()
    return node, _microk8s("kubectl", verb, node, *flags, timeout=timeout)


def cordon(node):
    """
    Mark Kubernetes node ``node`` unschedulable (``microk8s kubectl cordon``). Returns True
    when it changed, False when it was already cordoned. Runs on a control plane.

    node
        The Kubernetes node name (``microk8s.nodes`` lists them).

    CLI Example:

    .. code-block:: bash

        salt '*' microk8s.cordon k8s-worker-0
    """
    node, run = _kubectl_node("cordon", node)
    if run["retcode"] != 0:
        raise _fail(f"microk8s kubectl cordon {node}", run)
    return "already cordoned" not in run["stdout"]


def uncordon(node):
    """
    Mark Kubernetes node ``node`` schedulable again (``microk8s kubectl uncordon``).
    Returns True when it changed, False when it was not cordoned. Runs on a control plane.

    node
        The Kubernetes node name.

    CLI Example:

    .. code-block:: bash

        salt '*' microk8s.uncordon k8s-worker-0
    """
    node, run = _kubectl_node("uncordon", node)
    if run["retcode"] != 0:
        raise _fail(f"microk8s kubectl uncordon {node}", run)
    return "already uncordoned" not in run["stdout"]


def drain(node, timeout=300, force=False):
    """
    Cordon Kubernetes node ``node`` and evict its pods (``microk8s kubectl drain NODE
    --ignore-daemonsets --delete-emptydir-data --timeout=Ns``), respecting every
    PodDisruptionBudget: kubectl retries a refused eviction every 5 s until ``timeout``.
    Returns ``{"node", "evicted": [pod names]}``. Runs on a control plane.

    node
        The Kubernetes node name.
    timeout
        Seconds to wait for the evictions (default 300). On expiry the drain fails and
        the node stays cordoned.
    force
        Also delete pods no controller would recreate (kubectl ``--force``). Default False.

    CLI Example:

    .. code-block:: bash

        salt '*' microk8s.drain k8s-worker-0 timeout=600
    """
    try:
        seconds = int(timeout)
        if seconds < 1:
            raise ValueError
    except (TypeError, ValueError):
        raise SaltInvocationError(
            f"timeout: a positive number of seconds, not {timeout!r}"
        ) from None
    flags = ["--ignore-daemonsets", "--delete-emptydir-data", f"--timeout={seconds}s"]
    if force:
        flags.append("--force")
    node, run = _kubectl_node("drain", node, *flags, timeout=seconds + 60)
    if run["retcode"] != 0:
        advice = (
            "A PodDisruptionBudget forbids evicting a pod (kubectl get pdb -A shows "
            "ALLOWED DISRUPTIONS 0): scale that workload up or relax its budget, then rerun"
            if "disruption budget" in _command.output(run)
            else "Pods no controller recreates need force=True (they are lost)"
            if "declare no controller" in _command.output(run)
            else ""
        )
        raise _fail(f"microk8s kubectl drain {node}", run, advice)
    evicted = [
        line[len("pod/") : -len(" evicted")]
        for line in run["stdout"].splitlines()
        if line.startswith("pod/") and line.endswith(" evicted")
    ]
    return {"node": node, "evicted": evicted}


def wait_node(node, version=None, voters=None, timeout=600, interval=5):
    """
    Wait until Kubernetes node ``node`` is Ready (and, with ``version``, runs that version;
    with ``voters``, until the dqlite datastore has that many voters again). Runs on a
    control plane. Returns ``{"node", "version", "voters", "waited"}``; raises when the
    node is not back within ``timeout`` seconds, saying what it looks like.

    node
        The Kubernetes node name.
    version
        A Kubernetes version (``v1.33.4``) or a snap channel (``1.33/stable``: any version
        of that minor).
    voters
        The number of dqlite voters to wait for (3 with three or more control planes).
    timeout
        Seconds (default 600).
    interval
        Seconds between looks (default 5).

    CLI Example:

    .. code-block:: bash

        salt '*' microk8s.wait_node k8s-worker-0 version=1.33/stable
    """
    try:
        node = _validate.node(node)
        deadline, pause = float(timeout), max(0.2, float(interval))
    except (TypeError, ValueError) as err:
        raise SaltInvocationError(f"wait_node: {err}") from None
    started = time.monotonic()
    seen = "not listed"
    while True:
        _drop_cache()
        try:
            found = next((n for n in nodes() if n["name"] == node), None)
        except CommandExecutionError as err:
            found, seen = None, str(err)
        good, looks = _upgrade.node_back(found, version)
        if found:
            seen = looks
        voter_count = None
        if good and voters:
            try:
                members = status().get("high_availability", {}).get("nodes") or []
                voter_count = _upgrade.voter_count(members)
            except CommandExecutionError as err:
                seen, voter_count = str(err), 0
            good = voter_count >= int(voters)
            if not good:
                seen += f", {voter_count} of {voters} dqlite voters"
        waited = round(time.monotonic() - started, 1)
        if good:
            return {
                "node": node,
                "version": found["version"],
                "voters": voter_count,
                "waited": waited,
            }
        if waited >= deadline:
            raise CommandExecutionError(
                _upgrade.not_back_message(node, deadline, seen, version, voters)
            )
        time.sleep(pause)


def _token_files():
    def read(relative):
        try:
            return _data_path(relative).read_text(encoding="utf-8")
        except FileNotFoundError:
            return ""
        except OSError as err:
            raise CommandExecutionError(
                f"cannot read {_data_path(relative)}: {err.strerror}; run Salt as root"
            ) from None

    return read(_const.CLUSTER_TOKENS), read(_const.PERSISTENT_TOKENS)


def token_standing(token, margin=0):
    """
    Say how this control plane will judge join ``token`` (from ``cluster-tokens.txt``,
    no command runs): ``valid``, ``single-use`` (valid for one join), ``expiring`` (valid
    for less than ``margin`` seconds), ``expired`` (an expired line shadows any later line
    for it) or ``absent``. The token itself is never returned or logged.

    token
        The join token.
    margin
        Seconds the token must stay valid to count as ``valid``. Defaults to 0.

    CLI Example:

    .. code-block:: bash

        salt '*' microk8s.token_standing <token> margin=600
    """
    try:
        _validate.token(token)
        margin = _validate.seconds(margin, "margin")
    except ValueError as err:
        raise _invalid(err) from None
    tokens_text, persistent_text = _token_files()
    return _tokens.evaluate(
        tokens_text, token, time.time(), margin=margin, persistent_text=persistent_text
    )


def register_token(token, ttl=None):
    """
    Make join ``token`` valid on this control plane: drop every earlier line for it from
    ``cluster-tokens.txt`` (an expired one would shadow the new registration), then
    ``microk8s add-node --token TOKEN [--token-ttl TTL]``. Returns ``{"registered": True,
    "ttl": ttl}``; the token is never returned or logged.

    token
        The join token (at least 32 characters, no ``/``, ``|`` or ``help``).
    ttl
        Seconds it stays valid and reusable. Defaults to single use.

    CLI Example:

    .. code-block:: bash

        salt '*' microk8s.register_token <token> ttl=86400
    """
    try:
        _validate.token(token)
        seconds = _validate.ttl(ttl)
    except ValueError as err:
        raise _invalid(err) from None
    _reject_worker("registering a join token")
    tokens_path = _data_path(_const.CLUSTER_TOKENS)
    tokens_text, _ = _token_files()
    if _tokens.has_token(tokens_text, token):
        _files.replace_preserving(tokens_path, _tokens.without_token(tokens_text, token), 0o660)
    add_node(token=token, ttl=seconds)
    return {"registered": True, "ttl": seconds}


def _from_server_cert(read):
    """``read(pem_text)`` of ``certs/server.crt``; errors say which file and why."""
    path = _data_path(_const.SERVER_CERT)
    try:
        return read(path.read_text(encoding="ascii"))
    except FileNotFoundError:
        raise CommandExecutionError(f"{path} does not exist: is MicroK8s installed?") from None
    except (OSError, ValueError) as err:
        raise CommandExecutionError(f"cannot read the server certificate {path}: {err}") from None


def fingerprint():
    """
    Return this node's 12-hex join CHECK: the start of the SHA-256 of ``server.crt`` in DER
    form, computed from the file (no command runs). It changes with ``refresh_certs``.

    CLI Example:

    .. code-block:: bash

        salt '*' microk8s.fingerprint
    """
    return _from_server_cert(_certs.fingerprint)


def node_addresses():
    """
    Return this node's IPv4 addresses: ``microk8s.node_address`` if set, then the
    non-loopback addresses in the ``ipv4`` grain.

    CLI Example:

    .. code-block:: bash

        salt '*' microk8s.node_addresses
    """
    result = []
    configured = _opt("node_address")
    if configured:
        result.append(str(configured))
    result.extend(ip for ip in _cluster.usable_ipv4s(__grains__.get("ipv4")) if ip not in result)
    return result


def join_info(address=None):
    """
    Return what other nodes need to join through this control plane, for the mine:
    ``{"address": "IP:25000", "fingerprint": "<12 hex>"}`` (no secret in it).

    address
        This node's cluster IPv4. Defaults to ``microk8s.node_address``, else the first
        non-loopback IPv4 of the minion.

    CLI Example:

    .. code-block:: bash

        salt '*' microk8s.join_info address=10.1.0.11
    """
    if address is not None:
        try:
            address = _validate.ipv4(address, "address")
        except ValueError as err:
            raise _invalid(err) from None
    else:
        candidates = node_addresses()
        if not candidates:
            raise CommandExecutionError(
                "join_info: this minion has no non-loopback IPv4; pass address=..."
            )
        address = candidates[0]
    return {"address": f"{address}:{_const.CLUSTER_AGENT_PORT}", "fingerprint": fingerprint()}


# --- certificates -----------------------------------------------------------------------------


def _csr_template() -> pathlib.Path:
    return _data_path(_const.CSR_TEMPLATE)


def _read_template() -> str:
    path = _csr_template()
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CommandExecutionError(f"{path} does not exist: is MicroK8s installed?") from None
    except OSError as err:
        raise CommandExecutionError(f"cannot read {path}: {err.strerror}") from None


def extra_sans():
    """
    Return the extra subject alternative names of the API server certificate: the entries
    of ``csr.conf.template`` ``[ alt_names ]`` beyond MicroK8s' defaults.

    CLI Example:

    .. code-block:: bash

        salt '*' microk8s.extra_sans
    """
    try:
        return _csr.extra_sans(_read_template())
    except ValueError as err:
        raise CommandExecutionError(f"{_csr_template()}: {err}") from None


def server_cert_sans():
    """
    Return the subject alternative names of the API server certificate itself
    (``certs/server.crt``): what clients see, whatever ``csr.conf.template`` says. No
    command runs.

    CLI Example:

    .. code-block:: bash

        salt '*' microk8s.server_cert_sans
    """
    return _from_server_cert(_certs.subject_alt_names)


def add_extra_san(value):
    """
    Add ``value`` (an IP or DNS name) to ``csr.conf.template`` as ``IP.<n>``/``DNS.<n>``
    with n >= 100, before the ``#MOREIPS`` marker; does nothing if it is already there.
    Returns ``{"changed": bool, "extra_sans": [...]}``. Run ``microk8s.refresh_certs``
    afterwards on a clustered node.

    value
        IP address or DNS name.

    CLI Example:

    .. code-block:: bash

        salt '*' microk8s.add_extra_san k8s.example.com
    """
    try:
        kind, normalised = _validate.san(value)
    except ValueError as err:
        raise _invalid(err) from None
    text = _read_template()
    try:
        updated = _csr.add_san(text, kind, normalised)
    except ValueError as err:
        raise CommandExecutionError(f"{_csr_template()}: {err}") from None
    changed = updated != text
    if changed:
        _drop_cache()
        _files.replace_preserving(_csr_template(), updated, 0o644)
    return {"changed": changed, "extra_sans": _csr.extra_sans(updated)}


def refresh_certs(cert="server.crt"):
    """
    Regenerate a certificate (``microk8s refresh-certs --cert CERT``). Regenerating
    ``server.crt`` applies ``csr.conf.template`` edits and changes the join fingerprint.

    cert
        ``server.crt``, ``front-proxy-client.crt`` or ``ca.crt``. Defaults to ``server.crt``.

    CLI Example:

    .. code-block:: bash

        salt '*' microk8s.refresh_certs
        salt '*' microk8s.refresh_certs cert=front-proxy-client.crt
    """
    try:
        _validate.cert(cert)
    except ValueError as err:
        raise _invalid(err) from None
    _reject_worker("microk8s refresh-certs")
    _drop_cache()
    run = _microk8s("refresh-certs", "--cert", cert, timeout=600)
    _drop_cache()
    if run["retcode"] != 0:
        advice = "Run Salt as root" if run["retcode"] == 50 else ""
        raise _fail(f"microk8s refresh-certs --cert {cert}", run, advice)
    return True
