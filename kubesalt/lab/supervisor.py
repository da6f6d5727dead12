"""The lab supervisor: the one detached process that owns every namespace of a lab.

``python -m kubesalt.lab.supervisor STATE_DIR`` reads ``STATE_DIR/spec.json``, starts the
switch (a network namespace holding the lab's bridges) and one keeper per host (see
:mod:`kubesalt.lab.hostinit`), writes ``STATE_DIR/pids.json`` and then waits for SIGTERM.

Every process it starts dies with it (PR_SET_PDEATHSIG), so ``kill -9`` of the supervisor
takes the whole lab down: the hosts' PID namespaces die, and with them their mounts and
network namespaces. The machine-wide lab lock is an open file description inherited by the
supervisor and its children, so it is only released when the last of them is gone.
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import time

from kubesalt.lab import hostinit
from kubesalt.lab import ns

START_TIMEOUT = 30.0
STOP_TIMEOUT = 3.0


def _log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} supervisor[{os.getpid()}]: {message}", flush=True)


def _collect(pipes: dict[int, str], deadline: float) -> tuple[dict[str, int], list[str]]:
    """Read the report lines of every starting process until all are ready or failed."""
    init_pids: dict[str, int] = {}
    errors: list[str] = []
    pending = dict(pipes)
    buffers = {fd: b"" for fd in pipes}
    ready: set[str] = set()
    while pending and time.monotonic() < deadline:
        readable, _, _ = select.select(list(pending), [], [], deadline - time.monotonic())
        for fd in readable:
            chunk = os.read(fd, 4096)
            name = pending[fd]
            if not chunk:  # every writer closed: the process is done reporting
                os.close(fd)
                del pending[fd]
                if name not in ready and not any(e.startswith(name) for e in errors):
                    errors.append(f"{name}: exited before it was ready")
                continue
            buffers[fd] += chunk
            while b"\n" in buffers[fd]:
                line, buffers[fd] = buffers[fd].split(b"\n", 1)
                text = line.decode(errors="replace")
                if text.startswith("pid "):
                    init_pids[name] = int(text.split()[1])
                elif text == "ready":
                    ready.add(name)
                elif text.startswith("error "):
                    errors.append(f"{name}: {text[6:]}")
    for fd, name in pending.items():
        os.close(fd)
        errors.append(f"{name}: not ready after {START_TIMEOUT:.0f} s")
    return init_pids, errors


def _stop(children: list[int], init_pids: list[int]) -> None:
    # SIGKILL to a namespace's PID 1 kills everything in that namespace at once.
    for pid in init_pids + children:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + STOP_TIMEOUT
    remaining = set(children)
    while remaining and time.monotonic() < deadline:
        for pid in list(remaining):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                remaining.discard(pid)
        if remaining:
            time.sleep(0.02)
    if remaining:
        _log(f"children still alive after {STOP_TIMEOUT} s: {sorted(remaining)}")


def _start_power_driver(state_dir: str) -> int:
    """Fork ``python -m kubesalt.lab.power STATE_DIR`` (the bare-metal machines' power
    driver), logging to ``STATE_DIR/power.log``; it dies with the supervisor."""
    supervisor = os.getpid()
    pid = os.fork()
    if pid:
        _log(f"power driver: pid {pid}")
        return pid
    try:
        ns.set_pdeathsig(signal.SIGKILL)
        if os.getppid() != supervisor:
            os._exit(1)
        log = os.open(os.path.join(state_dir, "power.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.execv(sys.executable, [sys.executable, "-m", "kubesalt.lab.power", state_dir])  # noqa: S606
    finally:
        os._exit(1)


def main(argv: list[str]) -> int:
    state_dir = argv[0]
    with open(os.path.join(state_dir, "spec.json"), encoding="utf-8") as handle:
        spec = json.load(handle)
    if spec.get("die_with_pid"):
        # A lab tied to the process that started it (a test run) dies with that process.
        ns.set_pdeathsig(signal.SIGKILL)
        if os.getppid() != spec["die_with_pid"]:
            _log("the process that started the lab is gone: not starting")
            return 1
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

    pipes: dict[int, str] = {}
    children: list[int] = []
    read_fd, write_fd = os.pipe()
    children.append(hostinit.start_switch(write_fd, spec.get("dns")))
    os.close(write_fd)
    pipes[read_fd] = "switch"
    switch_pid = children[0]
    for host in spec["hosts"]:
        read_fd, write_fd = os.pipe()
        children.append(hostinit.start_host(host, write_fd))
        os.close(write_fd)
        pipes[read_fd] = host["hostname"]
    init_pids, errors = _collect(pipes, time.monotonic() + START_TIMEOUT)
    if errors or stopping:
        for error in errors:
            _log(f"ERROR {error}")
        _stop(children, list(init_pids.values()))
        return 1
    pids = {"supervisor": os.getpid(), "switch": switch_pid, "hosts": init_pids}
    tmp = os.path.join(state_dir, "pids.json.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(pids, handle)
    os.rename(tmp, os.path.join(state_dir, "pids.json"))
    _log(f"lab running: {json.dumps(pids)}")
    if spec.get("power_driver"):
        children.append(_start_power_driver(state_dir))

    # From here on the signals are received synchronously (the children are all forked, so
    # none inherits the blocked mask).
    waited = {signal.SIGTERM, signal.SIGINT, signal.SIGCHLD}
    signal.pthread_sigmask(signal.SIG_BLOCK, waited)
    while not stopping:
        # Wake at least every second to notice a host that died on its own.
        info = signal.sigtimedwait(waited, 1.0)
        if info is not None and info.si_signo in (signal.SIGTERM, signal.SIGINT):
            stopping.append(True)
        for pid in list(children):
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done, status = pid, 0
            if done:
                children.remove(pid)
                _log(f"child {pid} exited (status {status})")
    _log("stopping")
    _stop(children, list(init_pids.values()))
    _log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
