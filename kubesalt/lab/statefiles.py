"""The lab's lock and state files: the machine-wide lock (one lab per lock; its file names the
state directory of the lab that holds it), ``lab.json`` (what ``up`` recorded), ``pids.json``
(the supervisor's processes) and the state directory's own layout."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import pathlib
import shutil
import time

from kubesalt.lab.machine import LabError
from kubesalt.lab.machine import lock_path_default
from kubesalt.lab.topology import Host

LAB_FILE = "lab.json"
PIDS_FILE = "pids.json"


def running_lab(lock_path: str | None = None) -> str | None:
    """The state directory of the lab up on this machine, or None when none is.

    Probes the machine-wide lock without keeping it.
    """
    path = lock_path or lock_path_default()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return os.pread(fd, 4096, 0).decode(errors="replace").strip() or "?"
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def acquire_lock(lock_path: pathlib.Path, state_dir: pathlib.Path, wait: float) -> int:
    """Take the machine-wide lab lock (waiting up to ``wait`` seconds), write ``state_dir``
    into it and return its file descriptor."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                os.close(fd)
                raise
            if time.monotonic() >= deadline:
                try:
                    owner = os.pread(fd, 4096, 0).decode(errors="replace").strip()
                finally:
                    os.close(fd)
                raise LabError(
                    f"a lab is already up on this machine (state in {owner or '?'}): "
                    "one lab at a time; run `kubesalt lab down` first"
                ) from None
            time.sleep(0.5)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{state_dir}\n".encode(), 0)
    return fd


def read_json(path: pathlib.Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def hosts_from_info(info: dict) -> list[Host]:
    """The hosts ``lab.json`` records."""
    return [
        Host(
            name=h["name"],
            domain=info["domain"],
            roles=tuple(h["roles"]),
            private_ip=h.get("private_ip"),
            public_ip=h.get("public_ip"),
            runs_salt=h["runs_salt"],
            bare_metal=h.get("bare_metal", False),
        )
        for h in info["hosts"]
    ]


def clean_state_dir(state_dir: pathlib.Path) -> None:
    """Remove what an earlier lab left in ``state_dir`` (not the lab cloud) and make it."""
    if state_dir.exists():
        for name in ("hosts", "logs", PIDS_FILE, LAB_FILE, "spec.json"):
            path = state_dir / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "hosts").mkdir()


def write_info(state_dir: pathlib.Path, hosts: list[Host], timings: dict, state: str) -> None:
    """Record the lab in ``lab.json`` (atomically)."""
    info = {
        "state": state,
        "domain": hosts[0].domain,
        "state_dir": str(state_dir),
        "hosts": [
            {
                "name": h.name,
                "fqdn": h.fqdn,
                "roles": list(h.roles),
                "private_ip": h.private_ip,
                "public_ip": h.public_ip,
                "runs_salt": h.runs_salt,
                "bare_metal": h.bare_metal,
            }
            for h in hosts
        ],
        "timings": {key: round(value, 2) for key, value in timings.items()},
    }
    lab_file = state_dir / LAB_FILE
    tmp = lab_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(info, indent=1))
    tmp.replace(lab_file)


def clear_after_down(state_dir: pathlib.Path) -> None:
    """After ``down``: the hosts' roots and the pid files go; ``lab.json`` says ``down``."""
    if not state_dir.exists():
        return
    for name in ("hosts", PIDS_FILE, "spec.json"):
        path = state_dir / name
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists():
            path.unlink()
    lab_file = state_dir / LAB_FILE
    if lab_file.exists():
        info = read_json(lab_file) or {}
        info["state"] = "down"
        lab_file.write_text(json.dumps(info, indent=1))
