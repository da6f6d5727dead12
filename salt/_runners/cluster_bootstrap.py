"""Bring a freshly created deployment to a converged cluster, with no manual step.

Called by the reactor on every ``salt/minion/*/start`` event
(``salt://reactor/minion_start.sls``) and by a master schedule as a safety net. Once every
minion of the inventory (``pillar/_from_terraform.sls``, written by Terraform's cloud-init
or the lab) answers, it syncs the minions' modules and runs the orchestration
(``orch.cluster``). It runs once per inventory: a finished run is recorded with the
inventory's digest, a failed one is retried at the next trigger, an inventory change (a node
added or removed) runs it again. A lock file makes concurrent triggers harmless: one runs,
the others return ``busy``.

Progress goes to the master's event bus (``kubesalt/bootstrap/<stage>``) and its log.

Master configuration (cloud-init writes it to ``/etc/salt/master.d/50-kubesalt-reactor.conf``):

.. code-block:: yaml

    runner_dirs: [/srv/kubesalt/salt/_runners]
    cluster_bootstrap:
      inventory: /srv/pillar/_from_terraform.sls
      orchestration: orch.cluster
"""

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import time

import yaml
from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "cluster_bootstrap"

EVENT_PREFIX = "kubesalt/bootstrap"
DEFAULTS = {
    "inventory": "/srv/pillar/_from_terraform.sls",
    "orchestration": "orch.cluster",
    "saltenv": "base",
    # Seconds a minion has to answer test.ping / finish the module sync.
    "ping_timeout": 15,
    "sync_timeout": 300,
    # Seconds the minion whose start event triggered a run has to answer its first ping: it
    # is up, but its first job can take longer than ping_timeout on a loaded host, and the
    # next trigger may be the schedule, minutes later.
    "starting_wait": 60,
}


def __virtual__():
    return __virtualname__


def _settings():
    settings = dict(DEFAULTS)
    settings.update(__opts__.get("cluster_bootstrap") or {})
    settings.setdefault("state_dir", os.path.join(__opts__["cachedir"], "cluster_bootstrap"))
    return settings


def _fire(stage, data):
    __salt__["event.send"](f"{EVENT_PREFIX}/{stage}", data)


def _read_inventory(path):
    """Return ``(expected minion ids, digest of the file)``."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise CommandExecutionError(
            f"kubesalt bootstrap: cannot read the inventory {path}: {exc.strerror}; it is "
            "written by cloud-init (Terraform) or the lab"
        ) from exc
    try:
        nodes = (yaml.safe_load(raw) or {})["kubesalt"]["nodes"]
    except (yaml.YAMLError, KeyError, TypeError) as exc:
        raise CommandExecutionError(
            f"kubesalt bootstrap: {path} holds no kubesalt:nodes mapping ({exc})"
        ) from exc
    if not isinstance(nodes, dict) or not nodes:
        raise CommandExecutionError(f"kubesalt bootstrap: {path} lists no nodes")
    return sorted(nodes), hashlib.sha256(raw).hexdigest()


def _state_path(settings):
    return os.path.join(settings["state_dir"], "state.json")


def _read_state(settings):
    try:
        with open(_state_path(settings), encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return {}


def _write_state(settings, state):
    path = _state_path(settings)
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(state, handle, sort_keys=True)
    os.replace(tmp, path)


def _note_starting(settings, trigger):
    """Record a minion whose start found the lock held: the holder waits for it too."""
    if isinstance(trigger, str) and trigger:
        with open(os.path.join(settings["state_dir"], "starting"), "a", encoding="utf-8") as out:
            out.write(trigger + "\n")


def _starting(settings, trigger):
    """The minions that started during this run: its trigger and those _note_starting saw."""
    try:
        with open(os.path.join(settings["state_dir"], "starting"), encoding="utf-8") as handle:
            noted = set(handle.read().split())
    except OSError:
        noted = set()
    return noted | {trigger}


@contextlib.contextmanager
def _lock(settings):
    """Yield True when this process holds the bootstrap lock, False when another one does."""
    os.makedirs(settings["state_dir"], mode=0o700, exist_ok=True)
    fd = os.open(os.path.join(settings["state_dir"], "lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                yield False
                return
            raise
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _answering(expected, settings):
    """The expected minions that answer test.ping now.

    A plain test.ping and only ``True`` answers count: Salt 3007's manage.up counted the
    placeholder returned for a listed minion that never connected as "up" (fixed in 3008,
    saltstack/salt#69582), and a direct ping keeps this runner's own bounded timeout.
    """
    returns = __salt__["salt.execute"](
        ",".join(expected), "test.ping", tgt_type="list", timeout=settings["ping_timeout"]
    )
    return sorted(m for m, answer in (returns or {}).items() if answer is True and m in expected)


def _failed_states(orchestration_return):
    """``[state id, ...]`` of the orchestration steps whose result is not True."""
    failed = []
    data = orchestration_return.get("data", orchestration_return)
    if not isinstance(data, dict):
        return ["<no orchestration data>"]
    for per_master in data.values():
        if not isinstance(per_master, dict):
            failed.append(str(per_master)[:200])
            continue
        for state_key, result in per_master.items():
            if not isinstance(result, dict) or result.get("result") is not True:
                failed.append(
                    result.get("__id__", state_key) if isinstance(result, dict) else state_key
                )
    return sorted(failed)


def status():
    """
    Where the bootstrap stands: expected minions, which answer, the last run.

    CLI Example:

    .. code-block:: bash

        salt-run cluster_bootstrap.status
    """
    settings = _settings()
    expected, digest = _read_inventory(settings["inventory"])
    up = _answering(expected, settings)
    last = _read_state(settings)
    return {
        "expected": expected,
        "answering": up,
        "missing": sorted(set(expected) - set(up)),
        "last_run": last,
        "done": last.get("digest") == digest and last.get("result") == "done",
    }


def run(trigger=None, force=False):
    """
    Sync and orchestrate once every minion of the inventory answers (once per inventory).

    Returns ``{"result": ...}`` with ``already-done`` (this inventory converged before),
    ``busy`` (another run holds the lock), ``waiting`` (with the ``missing`` minions),
    ``done`` or ``failed`` (with the ``failed`` orchestration steps).

    trigger
        What called: the id of the minion that started (reactor) or None (schedule, CLI).

    force
        Run again even though this inventory already converged. Defaults to False.

    CLI Example:

    .. code-block:: bash

        salt-run cluster_bootstrap.run
        salt-run cluster_bootstrap.run force=True
    """
    settings = _settings()
    expected, digest = _read_inventory(settings["inventory"])

    def converged():
        last = _read_state(settings)
        return last.get("digest") == digest and last.get("result") == "done"

    if not force and converged():
        log.debug("kubesalt bootstrap: inventory %s already converged", digest[:12])
        return {"result": "already-done", "digest": digest}

    with _lock(settings) as acquired:
        if not acquired:
            log.info("kubesalt bootstrap: another run is in progress (trigger %s)", trigger)
            _note_starting(settings, trigger)
            return {"result": "busy"}
        # A run that held the lock may have just finished for this very inventory.
        if not force and converged():
            return {"result": "already-done", "digest": digest}

        up = _answering(expected, settings)
        missing = sorted(set(expected) - set(up))
        deadline = time.monotonic() + settings["starting_wait"]
        while set(missing) & _starting(settings, trigger) and time.monotonic() < deadline:
            time.sleep(min(2.0, max(0.0, deadline - time.monotonic())))
            up = _answering(expected, settings)
            missing = sorted(set(expected) - set(up))
        with contextlib.suppress(FileNotFoundError):  # waited for (or given up on) them
            os.unlink(os.path.join(settings["state_dir"], "starting"))
        if missing:
            log.info(
                "kubesalt bootstrap: %d of %d minions answer; waiting for %s",
                len(up),
                len(expected),
                ", ".join(missing),
            )
            _fire("waiting", {"trigger": trigger, "answering": up, "missing": missing})
            return {"result": "waiting", "missing": missing}

        return _converge(settings, expected, digest, trigger)


def _converge(settings, expected, digest, trigger):
    """Sync every expected minion, run the orchestration and record the outcome."""
    started = time.time()
    log.warning(
        "kubesalt bootstrap: all %d minions answer (trigger %s); syncing and running %s",
        len(expected),
        trigger,
        settings["orchestration"],
    )
    _fire("start", {"trigger": trigger, "minions": expected, "digest": digest})
    # Has any inventory converged before? If not, the orchestration skips its converged-cluster
    # check (a test-mode highstate of every node that cannot find fresh nodes converged).
    converged_before = bool(_read_state(settings).get("converged_before"))
    state = {"digest": digest, "started": started, "trigger": trigger}
    if converged_before:
        state["converged_before"] = True
    try:
        _sync_and_orchestrate(settings, expected, first_run=not converged_before)
    except Exception as exc:  # any failure must be recorded and reported
        state.update(result="failed", finished=time.time(), error=str(exc)[:2000])
        _write_state(settings, state)
        log.error(
            "kubesalt bootstrap failed: %s. Fix the cause, then: salt-run "
            "cluster_bootstrap.run (it also retries at the next minion start)",
            exc,
        )
        _fire("failed", {"error": str(exc)[:2000], "trigger": trigger})
        return {"result": "failed", "error": str(exc)}

    state.update(result="done", finished=time.time(), converged_before=True)
    _write_state(settings, state)
    seconds = round(state["finished"] - started, 1)
    log.warning("kubesalt bootstrap: %s converged in %ss", settings["orchestration"], seconds)
    _fire("done", {"minions": expected, "seconds": seconds, "digest": digest})
    return {"result": "done", "seconds": seconds, "minions": expected}


def _sync_and_orchestrate(settings, expected, first_run=False):
    """``saltutil.sync_all`` on every expected minion, then the orchestration (with pillar
    ``kubesalt_bootstrap:first_run`` when nothing converged before); raises
    CommandExecutionError naming what did not answer or which steps failed."""
    synced = __salt__["salt.execute"](
        ",".join(expected),
        "saltutil.sync_all",
        tgt_type="list",
        timeout=settings["sync_timeout"],
    )
    unsynced = sorted(set(expected) - {m for m, r in (synced or {}).items() if r})
    if unsynced:
        raise CommandExecutionError(f"saltutil.sync_all did not return from {', '.join(unsynced)}")
    _fire("synced", {"minions": expected})
    kwargs = {"pillar": {"kubesalt_bootstrap": {"first_run": True}}} if first_run else {}
    orchestration = __salt__["state.orchestrate"](
        settings["orchestration"], saltenv=settings["saltenv"], **kwargs
    )
    failed = _failed_states(orchestration if isinstance(orchestration, dict) else {})
    retcode = orchestration.get("retcode", 0) if isinstance(orchestration, dict) else 1
    if failed or retcode:
        raise CommandExecutionError(
            f"{settings['orchestration']} failed (retcode {retcode}) in: "
            f"{', '.join(failed) or 'unknown steps'}"
        )
