"""Starting and stopping the lab's supervisor (:mod:`kubesalt.lab.supervisor`), the detached
process that owns every namespace of a lab: everything else dies with it."""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import signal
import time

from kubesalt.lab import statefiles
from kubesalt.lab.machine import LabError
from kubesalt.lab.processes import spawn_daemon
from kubesalt.lab.processes import start_time
from kubesalt.lab.processes import wait_gone

SUPERVISOR_START_TIMEOUT = 40.0
SUPERVISOR_STOP_TIMEOUT = 3.0


def start(state_dir: pathlib.Path, spec: dict, lock_fd: int) -> None:
    """Start the supervisor of the lab in ``state_dir`` on ``spec`` (detached, in its own
    session, holding the lab lock ``lock_fd``) and wait, bounded, until it has started every
    host; record the start times of its processes in ``pids.json``."""
    pids_file = state_dir / statefiles.PIDS_FILE
    (state_dir / "spec.json").write_text(json.dumps(spec, indent=1))
    process = spawn_daemon(
        "kubesalt.lab.supervisor", state_dir, state_dir / "supervisor.log", pass_fds=(lock_fd,)
    )
    deadline = time.monotonic() + SUPERVISOR_START_TIMEOUT
    while time.monotonic() < deadline:
        pids = statefiles.read_json(pids_file)
        if pids:
            pids["supervisor_start"] = start_time(pids["supervisor"])
            # Start times tell the lab's processes from later ones that reuse a pid
            # (e.g. a state dir left over from before a reboot): down kills only these.
            pids["start_times"] = {
                str(pid): start_time(pid) for pid in [pids["switch"], *pids["hosts"].values()]
            }
            pids_file.write_text(json.dumps(pids))
            # Reap the supervisor's zombie later without blocking: it is not our child
            # for long (we return), and the kernel re-parents it.
            return
        if process.poll() is not None:
            raise LabError(f"the lab supervisor failed:\n{log_tail(state_dir)}")
        time.sleep(0.05)
    process.kill()
    raise LabError(
        f"the lab supervisor did not start its hosts in {SUPERVISOR_START_TIMEOUT:.0f} s:"
        f"\n{log_tail(state_dir)}"
    )


def log_tail(state_dir: pathlib.Path, lines: int = 20) -> str:
    try:
        text = (state_dir / "supervisor.log").read_text(errors="replace")
    except OSError:
        return "(no supervisor log)"
    return "\n".join(text.splitlines()[-lines:])


def is_ours(state_dir: pathlib.Path, pid: int, started: str | None) -> bool:
    """Whether ``pid`` is this lab's supervisor (not a later process reusing the pid)."""
    try:
        cmdline = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    ours = b"kubesalt.lab.supervisor" in cmdline and os.fsencode(state_dir) in cmdline
    return ours and (started is None or start_time(pid) == started)


def stop(state_dir: pathlib.Path) -> None:
    """Stop the supervisor of the lab in ``state_dir`` and every process it recorded
    (bounded: SIGTERM, then SIGKILL). Only processes verifiably the lab's are signalled."""
    pids = statefiles.read_json(state_dir / statefiles.PIDS_FILE) or {}
    supervisor = pids.get("supervisor")
    ours = bool(supervisor) and is_ours(state_dir, supervisor, pids.get("supervisor_start"))
    # Only processes whose start time was recorded at up are the lab's. Without start
    # times (up stopped right after the supervisor wrote its pids), only while that
    # supervisor is verifiably ours.
    recorded = pids.get("start_times")
    all_pids = [pids.get("switch"), *pids.get("hosts", {}).values()]
    all_pids = [
        pid
        for pid in all_pids
        if pid and (start_time(pid) == recorded.get(str(pid)) if recorded is not None else ours)
    ]
    if ours:
        with contextlib.suppress(ProcessLookupError):
            os.kill(supervisor, signal.SIGTERM)
        if not wait_gone([supervisor], SUPERVISOR_STOP_TIMEOUT):
            # PDEATHSIG then kills every host and the switch.
            with contextlib.suppress(ProcessLookupError):
                os.kill(supervisor, signal.SIGKILL)
            wait_gone([supervisor], 1.0)
    # The hosts' PID 1 and the switch die with the supervisor; make sure, bounded.
    if not wait_gone(all_pids, 2.0):
        for pid in all_pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        wait_gone(all_pids, 1.0)
