"""
The salt master's own minion: what keeps the master busy, and a restart that waits for it.

A change to the master's configuration (the ``salt_master`` state) needs a restart, but
restarting at once would cut off the very run that made the change. These functions let the
master's minion schedule the restart and hold it until the master is idle.
"""

import logging
import os
import time

from salt.exceptions import CommandExecutionError
from salt.exceptions import SaltInvocationError

import cluster_lib.master as _master

log = logging.getLogger(__name__)

__virtualname__ = "salt_master"

MASTER_RESTART_JOB = "kubesalt-master-restart"


def __virtual__():
    return __virtualname__


def _seconds(value, name):
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise SaltInvocationError(f"{name}: expected seconds, got {value!r}") from None
    if not 0 <= seconds <= 86400:
        raise SaltInvocationError(f"{name}: expected 0 to 86400 seconds, got {value!r}")
    return seconds


def _processes():
    """``[(pid, argv)]`` of this host's processes (those that vanish meanwhile are skipped)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                raw = handle.read()
        except OSError:
            continue
        argv = [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]
        if argv:
            found.append((int(entry), argv))
    return found


def _ancestors():
    """This process and its ancestors (a salt-call running this function is not "busy")."""
    pids, pid = [], os.getpid()
    for _ in range(64):
        pids.append(pid)
        try:
            with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
                pid = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
        if pid <= 1:
            break
    return pids


def master_activity():
    """
    On the salt master's own minion: what keeps the master busy now, as a list of text.

    Salt clients running on the master host (``salt``, ``salt-run``, ``salt-call``...),
    runner jobs of the master (orchestrations, the reactor's runners: ``jobs.master``) and
    jobs running on minions (``jobs.active``). An empty list means the master is idle: a
    restart would cut nothing off.

    CLI Example:

    .. code-block:: bash

        salt-call salt_master.master_activity
    """
    # The runner calls first, this host's clients last: the runners take seconds on a busy
    # master, and a client started meanwhile (the next orchestration) must still be seen.
    runners = __salt__["saltutil.runner"]("jobs.master")
    minion_jobs = __salt__["saltutil.runner"]("jobs.active")
    busy = _master.busy_jobs(
        runners if isinstance(runners, list) else [],
        minion_jobs if isinstance(minion_jobs, dict) else {},
    )
    return _clients() + busy


def _clients():
    """The Salt clients running on this host but the caller: ``["salt-run (pid 401)"]``."""
    return [
        f"{name} (pid {pid})"
        for pid, name in _master.salt_clients(_processes(), exclude=_ancestors())
    ]


def schedule_master_restart(service="salt-master", timeout=900):
    """
    On the salt master's own minion: restart the master once nothing needs it.

    Restarting at once would cut off the very run that changed the master's configuration
    (its return, the command waiting for it, the orchestration or highstate of other
    minions). This adds the one-shot schedule job ``kubesalt-master-restart`` to this
    minion, which runs :func:`restart_master_when_idle`. Already scheduled: nothing changes.

    service
        The master's service name. Defaults to ``salt-master``.
    timeout
        Seconds to wait for the master to be idle before restarting anyway. Defaults to 900.

    CLI Example:

    .. code-block:: bash

        salt-call salt_master.schedule_master_restart
    """
    timeout = _seconds(timeout, "timeout")
    if MASTER_RESTART_JOB in (__salt__["schedule.list"](return_yaml=False) or {}):
        return f"a restart of {service} is already scheduled"
    added = __salt__["schedule.add"](
        MASTER_RESTART_JOB,
        function="salt_master.restart_master_when_idle",
        job_kwargs={"service": service, "timeout": timeout},
        seconds=2,
        maxrunning=1,
        return_job=False,
        persist=True,
    )
    if not added.get("result"):
        raise CommandExecutionError(
            f"could not schedule the restart of {service}: {added.get('comment')}"
        )
    return f"{service} restarts once it is idle (schedule job {MASTER_RESTART_JOB})"


def _wait_idle(deadline, interval, service, timeout):
    """Look until :func:`master_activity` finds nothing twice in a row, ``interval`` apart,
    or until ``deadline`` (then log and return what still keeps the master busy)."""
    quiet = 0
    while True:
        try:
            busy = master_activity()
        except Exception as err:  # the master may be busy restarting or overloaded
            busy = [f"no answer from the master ({err})"]
        quiet = 0 if busy else quiet + 1
        if quiet >= 2:
            return []
        if time.monotonic() >= deadline:
            log.warning(
                "kubesalt: %s still busy after %ss (%s): restarting it anyway",
                service,
                timeout,
                "; ".join(busy),
            )
            return busy
        time.sleep(interval)


def restart_master_when_idle(service="salt-master", timeout=900, interval=2):
    """
    On the salt master's own minion: wait until the master is idle, then restart it.

    Idle means :func:`master_activity` finds nothing twice in a row, ``interval`` seconds
    apart, and a last look at this host's Salt clients right before the restart finds none
    (a client started meanwhile, such as the next orchestration, is waited for too). After
    ``timeout`` seconds the master restarts anyway (logged), so a configuration change is
    never held back for good. The schedule job that runs this (see
    :func:`schedule_master_restart`) is removed before the restart, so it happens once.

    service
        The master's service name. Defaults to ``salt-master``.
    timeout
        Seconds to wait for the master to be idle. Defaults to 900.
    interval
        Seconds between two looks. Defaults to 2.

    CLI Example:

    .. code-block:: bash

        salt-call salt_master.restart_master_when_idle
    """
    timeout = _seconds(timeout, "timeout")
    interval = max(0.1, _seconds(interval, "interval"))
    deadline = time.monotonic() + timeout
    deleted = False
    while True:
        busy = _wait_idle(deadline, interval, service, timeout)
        if not deleted:
            __salt__["schedule.delete"](MASTER_RESTART_JOB, persist=True)
            deleted = True
        # A last look at this host's clients right before the restart (a /proc scan, no
        # master round trip): a client started since the looks above is the next command
        # (`orch.cluster`, then at once `orch.maas`), whose first jobs would be published
        # while the minions reconnect, and lost. Wait for it as for any other.
        if busy or not _clients() or time.monotonic() >= deadline:
            break
    log.warning("kubesalt: restarting %s (configuration changed, master idle)", service)
    if not __salt__["service.restart"](service):
        raise CommandExecutionError(f"service {service} restart failed: see its log")
    return f"{service} restarted"
