"""The processes of a lab's hosts, read from /proc: which PID namespace is which host,
minion job processes still alive, memory per host (the lab and master benchmarks)."""

from __future__ import annotations

import os
import pathlib

# How long a lab may take to settle (no minion job process left) after a run.
STEADY_TIMEOUT = 45.0


def host_namespaces(lab) -> dict[str, str]:
    """PID namespace -> host name, for every host of the lab."""
    pids = lab._pids()["hosts"]
    return {os.readlink(f"/proc/{pid}/ns/pid"): host for host, pid in pids.items()}


def job_processes(lab) -> int:
    """Minion job processes still alive in the lab's hosts (each ~60 MB while it lives)."""
    namespaces = host_namespaces(lab)
    count = 0
    for entry in pathlib.Path("/proc").iterdir():
        try:
            if not entry.name.isdigit() or os.readlink(entry / "ns" / "pid") not in namespaces:
                continue
            if b"_thread_return" in (entry / "cmdline").read_bytes():
                count += 1
        except OSError:
            continue
    return count


def memory_by_host(lab) -> dict[str, tuple[float, float, int]]:
    """``host: (RSS MB, PSS MB, processes)`` of every process in each host's PID namespace.

    RSS counts pages shared between a host's Salt processes once per process (the usual
    "RSS of its processes"); PSS splits shared pages between their users, so the PSS of
    all hosts adds up to what the lab really uses.
    """
    namespaces = host_namespaces(lab)
    totals = {host: [0.0, 0.0, 0] for host in namespaces.values()}
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            host = namespaces.get(os.readlink(entry / "ns" / "pid"))
            if host is None:
                continue
            rollup = (entry / "smaps_rollup").read_text()
        except OSError:
            continue
        fields = {line.split(":")[0]: line.split()[1] for line in rollup.splitlines()[1:]}
        totals[host][0] += int(fields.get("Rss", 0)) / 1024
        totals[host][1] += int(fields.get("Pss", 0)) / 1024
        totals[host][2] += 1
    return {host: tuple(values) for host, values in totals.items()}
