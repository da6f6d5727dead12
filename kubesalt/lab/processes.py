"""The lab's processes as the kernel sees them: starting a detached daemon, start times (a live
process from a reused pid), liveness, bounded waits for them to go, and SIGTERM as an
interrupt while a lab comes up."""

from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import subprocess
import sys
import time

# The tree this kubesalt package is in: a daemon imports the same code as its starter.
PACKAGE_ROOT = str(pathlib.Path(__file__).resolve().parents[2])


def spawn_daemon(
    module: str, argument, log_path, *, env: dict | None = None, pass_fds=()
) -> subprocess.Popen:
    """Start ``python -m MODULE ARGUMENT`` detached: a session of its own, cwd ``/``, stdin
    from /dev/null, stdout and stderr appended to ``log_path``, this kubesalt tree first on
    ``PYTHONPATH``, this process's environment plus ``env``, and only ``pass_fds`` inherited.
    Returns at once; the caller waits (bounded) for what the daemon announces."""
    environment = dict(os.environ)
    environment["PYTHONPATH"] = PACKAGE_ROOT + os.pathsep + environment.get("PYTHONPATH", "")
    environment.update(env or {})
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", module, str(argument)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            cwd="/",
            env=environment,
            start_new_session=True,
            pass_fds=tuple(pass_fds),
        )


def start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (tells a live process from a reused pid)."""
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is not alive for us (it holds no namespace).
    try:
        state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_gone(pids: list[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        living = [pid for pid in pids if alive(pid)]
        if not living:
            return True
        for pid in living:
            # Our own children (a supervisor started by this process) must be reaped.
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


@contextlib.contextmanager
def interrupt_on_sigterm():
    """Turn SIGTERM into KeyboardInterrupt while bringing a lab up, so it tears down."""

    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
