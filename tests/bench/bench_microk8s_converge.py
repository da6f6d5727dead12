"""Benchmark of the microk8s states on simulated hosts: MicroK8s CLI calls (microk8s + snap)
and wall time of a first and a second state run, per role.

Run with ``make bench`` (or ``.venv/bin/python -m pytest tests/bench/bench_microk8s_converge.py
-o python_files='bench_*.py' -s -p no:randomly``); figures go to docs/benchmarks.md.
Target (issue 2): on a converged node, installed + running + five addons + cluster_joined call
the MicroK8s CLI at most twice in total and change nothing.
"""

from __future__ import annotations

import time

import pytest

from tests.support.microk8s_sim import converge_sls
from tests.support.microk8s_sim import microk8s_sim  # noqa: F401  (the fixture)
from tests.support.simminion import free_address
from tests.support.simminion import loaders_for
from tests.support.simminion import local_minion_opts

TOKEN = "5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b"
ADDONS = ["dns", "ha-cluster", "helm3", "metrics-server", "hostpath-storage"]
CONVERGED_CALL_LIMIT = 2


@pytest.fixture(scope="module")
def minion_opts(salt_factories, tmp_path_factory):
    return local_minion_opts(salt_factories, tmp_path_factory, "bench-mk8s")


def _run(loaders, node, sls):
    node.clear_invocations()
    started = time.monotonic()
    result = loaders.modules.state.template_str(sls).raw
    elapsed = time.monotonic() - started
    failed = {k: v["comment"] for k, v in result.items() if v["result"] is False}
    assert not failed, failed
    changed = sorted(k.split("_|-")[1] for k, v in result.items() if v["changes"])
    calls = node.invocations()
    return {
        "calls": len(calls),
        "microk8s": sum(1 for c in calls if c["argv"][0] == "microk8s"),
        "snap": sum(1 for c in calls if c["argv"][0] == "snap"),
        "seconds": elapsed,
        "changed": changed,
    }


def test_converge_cli_calls_per_role(minion_opts, microk8s_sim):  # noqa: F811
    control_plane = microk8s_sim(free_address())
    second_cp = microk8s_sim(free_address())
    worker = microk8s_sim(free_address())
    cp_ip = control_plane.address
    for node in (second_cp, worker):
        node.set_knobs(join_seconds=0)
    runs = [
        (
            "control plane (first)",
            control_plane,
            converge_sls(cp_ip, TOKEN, False, ADDONS, register_token=True),
        ),
        ("worker", worker, converge_sls(cp_ip, TOKEN, True)),
        ("control plane (joining)", second_cp, converge_sls(cp_ip, TOKEN, False, ADDONS)),
    ]
    rows = []
    for role, node, sls in runs:
        loaders = loaders_for(minion_opts, node)
        first = _run(loaders, node, sls)
        second = _run(loaders_for(minion_opts, node), node, sls)
        rows.append((role, first, second))
        assert second["changed"] == [], (role, second)
        assert second["calls"] <= CONVERGED_CALL_LIMIT, (role, second)
    print("\nmicrok8s states: MicroK8s CLI calls (microk8s + snap) and wall time per run")
    print("| role | run | CLI calls (microk8s/snap) | wall time | states changed |")
    print("| --- | --- | --- | --- | --- |")
    for role, first, second in rows:
        for label, run in (("first", first), ("second", second)):
            print(
                f"| {role} | {label} | {run['calls']} ({run['microk8s']}/{run['snap']}) "
                f"| {run['seconds']:.2f} s | {len(run['changed'])} |"
            )
