"""What a lab may never leave behind on the machine: a snapshot of mounts, interfaces,
namespaces and lab processes before and after (tests/lab/test_safety.py and the lab-cloud
tests compare them)."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import time


def _processes() -> dict[int, tuple[int, str, dict]]:
    """pid -> (parent pid, command line, namespaces) of every process we can read."""
    table = {}
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = (entry / "stat").read_text()
            namespaces = {kind: os.readlink(entry / "ns" / kind) for kind in ("pid", "net", "mnt")}
        except OSError:
            continue  # exited while we looked
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        table[int(entry.name)] = (parent, cmdline.strip(), namespaces)
    return table


def _owner(pid: int, table: dict) -> str | None:
    """The state directory of the lab supervisor ``pid`` descends from, if any, or the
    directory of the lab cloud's backing daemon (``kubesalt.cloud.instances DIR``: its hosts
    are the daemon's children, no supervisor's)."""
    for _ in range(64):  # bounded walk up the process tree
        if pid not in table:
            return None
        parent, cmdline, _namespaces = table[pid]
        if "kubesalt.lab.supervisor" in cmdline or "-m kubesalt.cloud.instances " in cmdline:
            return cmdline.split()[-1]
        pid = parent
    return None


def machine_snapshot(state_dir: pathlib.Path | None = None) -> dict:
    """What a lab may never leave behind on the machine.

    ``namespaces``: the PID, network and mount namespaces other than ours that have a
    process (every lab process is in one); ``processes``: processes in our namespaces whose
    command line names a lab (supervisor, keepers). Another engineer's lab on this shared
    machine may come and go meanwhile: its namespaces and processes (those of processes
    descending from a supervisor of another state directory) are left out, and
    :func:`assert_nothing_left` checks that nothing *new* remains.
    """
    own = {kind: os.readlink(f"/proc/self/ns/{kind}") for kind in ("pid", "net", "mnt")}
    table = _processes()
    ours = str(state_dir) if state_dir else None
    owner_of_namespace = {}
    owners = {}
    for pid, (_parent, _cmdline, theirs) in table.items():
        owners[pid] = _owner(pid, table)
        if owners[pid]:
            for kind, value in theirs.items():
                if value != own[kind]:
                    owner_of_namespace[value] = owners[pid]
    namespaces = set()
    processes = set()
    for pid, (_parent, cmdline, theirs) in table.items():
        foreign = {value for kind, value in theirs.items() if value != own[kind]}
        namespaces |= {ns for ns in foreign if owner_of_namespace.get(ns, ours) == ours}
        named = "kubesalt.lab" in cmdline or (ours and ours in cmdline)
        if named and not foreign and owners[pid] in (None, ours):
            processes.add((pid, cmdline))
    return {
        "mounts": pathlib.Path("/proc/mounts").read_text(),
        "netns": subprocess.run(
            ["ip", "netns", "list"], capture_output=True, text=True, check=True
        ).stdout,
        "links": subprocess.run(
            ["ip", "-o", "link"], capture_output=True, text=True, check=True
        ).stdout,
        "addresses": subprocess.run(
            ["ip", "-o", "addr"], capture_output=True, text=True, check=True
        ).stdout,
        "namespaces": namespaces,
        "processes": processes,
        "loops": _loops(ours),
    }


def _loops(ours: str | None) -> set[tuple[str, str]]:
    """Attached loop devices (``losetup -J -l``: device, backing file) and the kernel's
    partitions of loop devices (sysfs: partition, its disk's backing file): lab-cloud volumes
    exist as these only while attached. Another lab cloud's (a backing file in the
    ``volumes/`` of a cloud directory, kubesalt.cloud.volumes, not under ``ours``) are left
    out, as its namespaces are."""
    listed = subprocess.run(
        ["losetup", "-J", "-l"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    devices = json.loads(listed)["loopdevices"] if listed.strip() else []
    found = {(d["name"], d.get("back-file") or "") for d in devices}
    for part in pathlib.Path("/sys/block").glob("loop*/loop*p*"):
        disk = f"/dev/{part.parent.name}"
        found.add((part.name, next((f for n, f in found if n == disk), "")))

    def theirs(back_file: str) -> bool:
        path = pathlib.Path(back_file.removesuffix(" (deleted)"))
        cloud = path.parent.parent
        if path.parent.name != "volumes" or not (cloud / "cloud.json").is_file():
            return False
        return not (ours and str(path).startswith(ours.rstrip("/") + "/"))

    return {(name, back_file) for name, back_file in found if not theirs(back_file)}


def leftovers(before: dict, after: dict) -> dict:
    """What ``after`` has that ``before`` had not: mounts, interfaces, namespaces, processes."""
    left = {}
    for key in ("mounts", "netns", "links", "addresses"):
        if after[key] != before[key]:
            left[key] = (before[key], after[key])
    for key in ("namespaces", "processes", "loops"):
        new = after[key] - before[key]
        if new:
            left[key] = new
    return left


def describe_namespaces(namespaces: set) -> str:
    """Who is in each of ``namespaces``: every process's pid and command line with its
    ancestors' (so a failure says whose lab, or which orphan, holds a namespace)."""
    table = _processes()
    lines = []
    for pid, (_parent, cmdline, theirs) in sorted(table.items()):
        held = namespaces & set(theirs.values())
        if not held:
            continue
        chain, ancestor = [], _parent
        for _ in range(6):  # bounded walk up the process tree
            if ancestor not in table:
                break
            chain.append(f"{ancestor}:{table[ancestor][1][:80]}")
            ancestor = table[ancestor][0]
        lines.append(f"{sorted(held)} pid {pid} {cmdline[:120]!r} <- {' <- '.join(chain)}")
    return "\n".join(lines[:40])


def assert_nothing_left(before: dict, after: dict) -> None:
    left = leftovers(before, after)
    assert not left, (
        f"the lab left these behind: {left}\n{describe_namespaces(left.get('namespaces', set()))}"
    )


def assert_nothing_left_after_teardown(
    before: dict, state_dir: pathlib.Path, timeout: float = 30.0
) -> None:
    """:func:`assert_nothing_left`, once what a teardown killed has had ``timeout`` seconds to
    exit: processes killed with their parent (``PR_SET_PDEATHSIG``) are reaped after it, and
    on a loaded machine that is not instantaneous. What is still there after it is a leak."""
    deadline = time.monotonic() + timeout
    after = machine_snapshot(state_dir)
    while leftovers(before, after) and time.monotonic() < deadline:
        time.sleep(0.5)
        after = machine_snapshot(state_dir)
    assert_nothing_left(before, after)
