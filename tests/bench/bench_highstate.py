"""A plain ``salt '*' state.highstate`` on the 5-host lab (salt, bastion, one control plane,
two workers): from fresh (runs needed, wall of each) and converged (wall against the
slowest host's summed state durations).

The converged figure shows Salt's own overhead around the states: the target is a wall of at
most twice the slowest host's state time, and at most 8 s on the idle machine.

Run: .venv/bin/python -m pytest tests/bench/bench_highstate.py -o python_files='bench_*.py' -s
"""

from __future__ import annotations

import json
import time

from tests.support.lab import lab_up
from tests.support.lab_salt import changed_states
from tests.support.lab_salt import failed_states
from tests.support.lab_salt import salt_json
from tests.support.lab_salt import wait_for_master_restart

CONVERGED_RUNS = 3


def highstate(lab):
    started = time.monotonic()
    doc = salt_json(lab, ["salt", "--out=json", "--static", "-t", "300", "*", "state.highstate"])
    return doc, time.monotonic() - started


def state_seconds(doc):
    """``{minion: summed state durations in s}`` of a highstate return."""
    return {
        minion: sum(s.get("duration", 0) for s in states.values()) / 1000
        for minion, states in doc.items()
        if isinstance(states, dict)
    }


def load():
    with open("/proc/loadavg", encoding="ascii") as handle:
        return " ".join(handle.read().split()[:3])


def test_plain_highstate_fresh_and_converged(tmp_path_factory):
    with lab_up(tmp_path_factory, workers=2, control_planes=1) as lab:
        minions = sorted(h.minion_id for h in lab.hosts() if h.runs_salt)
        salt_json(lab, ["salt", "--out=json", "--static", "-t", "300", "*", "saltutil.sync_all"])
        fresh = []
        for _ in range(3):
            doc, wall = highstate(lab)
            wait_for_master_restart(lab)
            ok = sorted(doc) == minions and not failed_states(doc)
            fresh.append({"wall": round(wall, 1), "converged": ok, "load": load()})
            if ok and not any(changed_states(doc).values()):
                break
        converged = []
        for _ in range(CONVERGED_RUNS):
            doc, wall = highstate(lab)
            assert sorted(doc) == minions and not any(changed_states(doc).values())
            slowest = max(state_seconds(doc).values())
            converged.append(
                {
                    "wall": round(wall, 1),
                    "slowest_host_states": round(slowest, 1),
                    "ratio": round(wall / slowest, 2),
                    "load": load(),
                }
            )
    needed = next(i + 1 for i, run in enumerate(fresh) if run["converged"])
    print(f"\nfresh: {json.dumps(fresh)}\nruns needed: {needed}")
    print(f"converged: {json.dumps(converged)}")
    print("| run | wall | slowest host's states | wall / states | load (1/5/15 min) |")
    for index, run in enumerate(converged, start=1):
        print(
            f"| {index} | {run['wall']} s | {run['slowest_host_states']} s | {run['ratio']} "
            f"| {run['load']} |"
        )
