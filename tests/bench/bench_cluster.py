"""Convergence of a whole cluster in the lab: orch.cluster against one host at a time.

For one control plane and N workers (N = 2 and 5), side by side in one run:

- a fresh lab converged by ``salt-run state.orchestrate orch.cluster`` (first run), then the
  same orchestration again (idempotent re-run);
- another fresh lab converged by ``salt <id> state.highstate`` for one host after the other
  (salt master, bastion, control plane, workers), as an operator without the orchestration
  would.

Reported: wall times, the ratio orchestration / sequential (target <= 0.6 at N = 5), the
re-run / first-run ratio (target <= 1/3) and the MicroK8s CLI calls per node per run, from
the simulator's invocation log in every host. Figures go to docs/benchmarks.md.

The simulator joins in 1 s and installs at once, so with its defaults Salt's own per-step
overhead is most of both runs. ``KUBESALT_BENCH_JOIN_SECONDS=20`` sets the simulator's
``join_seconds`` knob in every node (an assumed, not measured, MicroK8s join time) to show
the structure of the roll-out (parallel joins) when joins cost what they cost on real hosts.

Run: .venv/bin/python -m pytest tests/bench/bench_cluster.py -o python_files='bench_*.py' -s
"""

from __future__ import annotations

import json
import os
import sys
import time

import pytest

from kubesalt.lab import Lab
from kubesalt.lab import requirements_problem
from tests.support.lab import LOCK_WAIT
from tests.support.lab_salt import DOMAIN
from tests.support.lab_salt import changed_states
from tests.support.lab_salt import cluster_nodes
from tests.support.lab_salt import orchestrate
from tests.support.lab_salt import salt_json
from tests.support.lab_salt import wait_for_master_restart
from tests.support.paths import REPO_ROOT

INVOCATIONS = "/var/lib/kubesalt-sim/microk8s/invocations.jsonl"
JOIN_SECONDS = os.environ.get("KUBESALT_BENCH_JOIN_SECONDS")
RESULTS = {}
# The work tree is visible in every lab host at the same path (copy-on-write root).
SIM_ENV = {"PYTHONPATH": str(REPO_ROOT)}


def microk8s_hosts(workers):
    return ["k8s-master"] + [f"k8s-worker-{i}" for i in range(workers)]


def cli_calls(lab, hosts):
    counts = {}
    for host in hosts:
        run = lab.exec(host, ["sh", "-c", f"cat {INVOCATIONS} 2>/dev/null | wc -l"])
        counts[host] = int(run.stdout.strip() or 0)
    return counts


def fresh_lab(tmp_path_factory, workers):
    problem = requirements_problem()
    if problem:
        pytest.skip(problem)
    lab = Lab(tmp_path_factory.mktemp("kubesalt-bench"), die_with_caller=True)
    lab.up(workers=workers, control_planes=1, lock_wait=LOCK_WAIT)
    salt_json(lab, ["salt", "--out=json", "--static", "*", "saltutil.sync_all"])
    if JOIN_SECONDS:
        knob = [sys.executable, "-m", "kubesalt", "sim", "microk8s", "knob", "--root", "/"]
        for host in microk8s_hosts(workers):
            lab.exec(host, [*knob, f"join_seconds={JOIN_SECONDS}"], check=True, env=SIM_ENV)
    return lab


def per_node(before, after):
    calls = [after[host] - before[host] for host in after]
    return f"{sum(calls) / len(calls):.1f} (max {max(calls)})"


@pytest.mark.parametrize("workers", [2, 5])
def test_orchestration_against_sequential_highstate(tmp_path_factory, workers):
    hosts = microk8s_hosts(workers)
    lab = fresh_lab(tmp_path_factory, workers)
    try:
        calls0 = cli_calls(lab, hosts)
        first = orchestrate(lab)
        calls1 = cli_calls(lab, hosts)
        assert all(step["result"] for step in first.steps.values()), first.steps
        assert len(cluster_nodes(lab)) == workers + 1
        again = orchestrate(lab)
        calls2 = cli_calls(lab, hosts)
        assert all(step["result"] for step in again.steps.values())
    finally:
        lab.down()

    lab = fresh_lab(tmp_path_factory, workers)
    try:
        order = ["salt", "bastion", *hosts]
        started = time.monotonic()
        for host in order:
            # The master's restart after its own run waits until the master is idle.
            # -t 300: under load a minion busy with its highstate can miss the default
            # find_job deadline, and salt would return without it.
            run = salt_json(
                lab,
                [
                    "salt",
                    "--out=json",
                    "--static",
                    "-t",
                    "300",
                    f"{host}.{DOMAIN}",
                    "state.highstate",
                ],
            )
            failed = [s["__id__"] for s in run[f"{host}.{DOMAIN}"].values() if not s["result"]]
            assert not failed, (host, failed)
        sequential = time.monotonic() - started
        assert len(cluster_nodes(lab)) == workers + 1
        wait_for_master_restart(lab)
        rerun = salt_json(lab, ["salt", "--out=json", "--static", "*", "state.highstate"])
        assert not any(changed_states(rerun).values()), changed_states(rerun)
    finally:
        lab.down()

    RESULTS[workers] = {
        "orchestration": first.seconds,
        "sequential": sequential,
        "ratio": first.seconds / sequential,
        "rerun": again.seconds,
        "rerun_ratio": again.seconds / first.seconds,
        "calls_first": per_node(calls0, calls1),
        "calls_rerun": per_node(calls1, calls2),
    }
    print(
        f"\nN={workers}, join_seconds={JOIN_SECONDS or 'default'}: {json.dumps(RESULTS[workers])}"
    )
    print(
        "| N workers | orchestration | sequential highstate | ratio | re-run | re-run/first "
        "| MicroK8s CLI calls per node: first run | re-run |"
    )
    for n, r in sorted(RESULTS.items()):
        print(
            f"| {n} | {r['orchestration']:.1f} s | {r['sequential']:.1f} s | {r['ratio']:.2f} "
            f"| {r['rerun']:.1f} s | {r['rerun_ratio']:.2f} | {r['calls_first']} "
            f"| {r['calls_rerun']} |"
        )
