"""Benchmark of MAAS in the lab: the two ways to a converged `--maas` lab.

1. A plain `salt '*' state.highstate` from fresh (`lab up --maas`, `saltutil.sync_all`,
   nothing else): how many runs until a run has no failure, then a run without changes;
   the wall time of each run.
2. `orch.cluster`, then at once `orch.maas` (docs/maas.md's lab sequence), and `orch.maas`
   again: the wall time of each.

Run with ``.venv/bin/python -m pytest tests/bench/bench_maas_lab.py -o
python_files='bench_*.py' -s -p no:randomly`` (part of ``make bench``); figures go to
docs/benchmarks.md with the machine load printed here.
"""

from __future__ import annotations

import pathlib
import time

import pytest

from kubesalt.lab import Lab
from kubesalt.lab import requirements_problem
from tests.support.lab_maas import changes
from tests.support.lab_maas import failed as orch_failed
from tests.support.lab_maas import failures
from tests.support.lab_maas import highstate
from tests.support.lab_maas import orch_maas
from tests.support.lab_salt import salt_json
from tests.support.lab_salt import wait_for_the_master

pytestmark = pytest.mark.skipif(bool(requirements_problem()), reason=str(requirements_problem()))

MAX_RUNS = 4


def _load() -> str:
    return pathlib.Path("/proc/loadavg").read_text().split(" ")[0]


def _lab(tmp_path_factory) -> Lab:
    lab = Lab(tmp_path_factory.mktemp("kubesalt-lab"), die_with_caller=True)
    lab.up(workers=0, control_planes=1, maas=True, lock_wait=420.0)
    salt_json(lab, ["salt", "--out=json", "--static", "*", "saltutil.sync_all"])
    return lab


def test_plain_highstate_from_fresh(tmp_path_factory):
    lab = _lab(tmp_path_factory)
    try:
        print(f"\nplain highstate on a fresh --maas lab (load {_load()} at start)")
        converged = clean = None
        for number in range(1, MAX_RUNS + 1):
            run = highstate(lab)
            wait_for_the_master(lab)
            bad, changed = failures(run), changes(run)
            print(
                f"  run {number}: {run.seconds:.1f} s wall, hosts failing: {sorted(bad)}, "
                f"hosts with changes: {sorted(changed)} (load {_load()})"
            )
            if not bad and converged is None:
                converged = number
            if not bad and not changed:
                clean = number
                break
        print(f"  no failure from run {converged} on; no change in run {clean}")
        assert converged is not None and converged <= 2
        assert clean is not None and clean <= 3
    finally:
        lab.down()


def test_orch_cluster_then_orch_maas(tmp_path_factory):
    lab = _lab(tmp_path_factory)
    try:
        print(f"\norch.cluster then at once orch.maas (load {_load()} at start)")
        started = time.monotonic()
        cluster = salt_json(
            lab, ["salt-run", "--out=json", "state.orchestrate", "orch.cluster"], 600
        )
        print(f"  orch.cluster: {time.monotonic() - started:.1f} s")
        assert cluster["data"], cluster
        for number in (1, 2):
            started = time.monotonic()
            run = orch_maas(lab)
            seconds = time.monotonic() - started
            print(f"  orch.maas run {number}: {seconds:.1f} s (load {_load()})")
            assert not orch_failed(run), orch_failed(run)
    finally:
        lab.down()
