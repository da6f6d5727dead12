"""When may the salt master restart? Pure helpers over what the master and the host show."""

from __future__ import annotations

import os

# Salt's command-line clients: while one runs on the master host, it talks to the master
# (a `salt` waiting for returns, a `salt-run` orchestration, a masterful `salt-call`).
SALT_CLIENTS = frozenset({"salt", "salt-run", "salt-call", "salt-cp", "salt-key"})
# Jobs that are part of asking whether the master is idle (or of the restart itself).
OWN_FUNCTIONS = frozenset(
    {
        "jobs.active",
        "jobs.master",
        "saltutil.running",
        "saltutil.find_job",
        "salt_master.restart_master_when_idle",
        "salt_master.master_activity",
    }
)


def client_name(argv):
    """The Salt client a command line runs (``salt-run``...), or None.

    The client is argv[0], or argv[1] when an interpreter runs the script
    (``/opt/saltstack/salt/bin/python3.10 /usr/bin/salt-run ...``).
    """
    for arg in argv[:2]:
        name = os.path.basename(arg or "")
        if name in SALT_CLIENTS:
            return name
        if not name.startswith("python"):
            return None
    return None


def salt_clients(processes, exclude=()):
    """``[(pid, client)]`` of the ``(pid, argv)`` processes running a Salt client, without
    the pids in ``exclude`` (the caller and its ancestors)."""
    excluded = set(exclude)
    found = []
    for pid, argv in processes:
        name = client_name(argv)
        if name and pid not in excluded:
            found.append((pid, name))
    return sorted(found)


def busy_jobs(runners, minion_jobs):
    """``[description]`` of the jobs that keep the master busy.

    ``runners`` is ``jobs.master`` (runner jobs in the master's proc dir: orchestrations,
    the reactor's runners), ``minion_jobs`` is ``jobs.active`` (``{jid: {"Function",
    "Running": [...]}}``). The jobs asking the question are left out.
    """
    found = []
    for job in runners or []:
        fun = job.get("fun") if isinstance(job, dict) else None
        # The master's proc files name runner functions "runner.<module>.<function>".
        if isinstance(fun, str) and fun.startswith("runner."):
            fun = fun.removeprefix("runner.")
        if fun not in OWN_FUNCTIONS:
            found.append(f"runner {fun} (jid {job.get('jid')})")
    for jid, job in sorted((minion_jobs or {}).items()):
        if not isinstance(job, dict) or job.get("Function") in OWN_FUNCTIONS:
            continue
        running = sorted(m for entry in job.get("Running") or [] for m in entry)
        found.append(f"{job.get('Function')} (jid {jid}) on {', '.join(running)}")
    return found
