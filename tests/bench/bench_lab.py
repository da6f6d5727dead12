"""Benchmark of the lab: `lab up` and `lab down` times, memory per host.

Run with ``make bench`` (or ``.venv/bin/python -m pytest tests/bench/bench_lab.py
-o python_files='bench_*.py' -s``); figures go to docs/benchmarks.md.
Targets (issue 3): up with 5 Salt hosts < 20 s, down < 5 s, < 200 MB per host.
"""

from __future__ import annotations

import os
import pathlib
import time

import pytest

from kubesalt.lab import Lab
from kubesalt.lab import requirements_problem

pytestmark = pytest.mark.skipif(bool(requirements_problem()), reason=str(requirements_problem()))

UP_TARGET_5_HOSTS = 20.0
DOWN_TARGET = 5.0
MEMORY_TARGET_MB = 200.0


def _memory_by_host(lab: Lab) -> dict[str, tuple[float, float, int]]:
    """``host: (RSS MB, PSS MB, processes)`` of every process in each host's PID namespace.

    RSS counts pages shared between a host's Salt processes once per process (the usual
    "RSS of its processes"); PSS splits shared pages between their users, so the PSS of
    all hosts adds up to what the lab really uses.
    """
    pids = lab._pids()["hosts"]
    namespaces = {os.readlink(f"/proc/{pid}/ns/pid"): host for host, pid in pids.items()}
    totals = {host: [0.0, 0.0, 0] for host in pids}
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


@pytest.mark.parametrize("workers", [2, 8])
def bench_lab_up_down(tmp_path, workers):
    lab = Lab(tmp_path / "lab")
    started = time.monotonic()
    try:
        info = lab.up(workers=workers, control_planes=1, lock_wait=600)
        up_seconds = time.monotonic() - started
        time.sleep(2)  # let the minions settle after their first jobs
        memory = _memory_by_host(lab)
    finally:
        down_seconds = lab.down()
    salt_hosts = sum(1 for host in info["hosts"] if host["runs_salt"])
    print(f"\n## lab with {workers} workers ({salt_hosts} Salt hosts + outside)")
    print(f"up: {up_seconds:.1f} s (phases, cumulative: {info['timings']})")
    print(f"down: {down_seconds:.2f} s")
    print(f"{'host':<16} {'RSS MB':>8} {'PSS MB':>8} {'procs':>6}")
    for host, (rss, pss, count) in memory.items():
        print(f"{host:<16} {rss:8.1f} {pss:8.1f} {count:6d}")
    rss_all = [rss for rss, _pss, _count in memory.values()]
    pss_total = sum(pss for _rss, pss, _count in memory.values())
    print(f"max RSS per host: {max(rss_all):.1f} MB; PSS of the whole lab: {pss_total:.1f} MB")
    if salt_hosts == 5:
        print(
            f"target up(5 hosts) < {UP_TARGET_5_HOSTS:.0f} s: "
            f"{'met' if up_seconds < UP_TARGET_5_HOSTS else 'MISSED'}"
        )
    assert down_seconds < DOWN_TARGET
    assert max(rss_all) < MEMORY_TARGET_MB
