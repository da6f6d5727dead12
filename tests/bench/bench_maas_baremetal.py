"""Benchmark of orch.baremetal in the lab: two machines with a 30 s simulated deployment.

`kubesalt lab up --maas --bare-metal 2` (salt, bastion, one control plane, the MAAS hosts,
k8s-bm-0/1 powered off), `orch.cluster`, `orch.maas`, the machines enlisted, the region's
`deploy_seconds` set to 30; then `salt-run state.orchestrate orch.baremetal` is timed from its
start to both machines Ready in Kubernetes (the run ends with orch.cluster's join, and the
nodes are checked right after). API requests: the region's access log lines
(`regiond.log`) during the run, per minute of the deployment step (`baremetal-deployed`,
where `maas.machine_deployed` polls with its backed-off interval, 2 s growing to 15 s).

    .venv/bin/python -m pytest tests/bench/bench_maas_baremetal.py \
        -o python_files='bench_*.py' -s -p no:randomly
"""

import json
import pathlib
import time

import pytest

from kubesalt.lab import Lab
from kubesalt.lab import power
from kubesalt.lab import requirements_problem
from kubesalt.lab.demo import orchestrate_baremetal
from kubesalt.sim.maas import host as maas_host
from tests.support.lab_salt import salt_json

pytestmark = [pytest.mark.lab, pytest.mark.timeout(2400)]

DEPLOY_SECONDS = 30
DOMAIN = "lab.kubesalt.test"
REGIOND_LOG = str(maas_host.Host("/").logfile("regiond"))


def _load() -> str:
    return " ".join(pathlib.Path("/proc/loadavg").read_text().split()[:3])


def _api_requests(lab) -> int:
    run = lab.exec("maas-region", ["grep", "-c", "/MAAS/api/2.0/", REGIOND_LOG])
    return int(run.stdout.strip() or 0)


def test_two_machines_30s_deployment(tmp_path_factory):
    problem = requirements_problem()
    if problem:
        pytest.skip(problem)
    lab = Lab(tmp_path_factory.mktemp("kubesalt-lab"), die_with_caller=True)
    lab.up(workers=0, control_planes=1, maas=True, bare_metal=2, lock_wait=420.0)
    try:
        salt_json(lab, ["salt", "--out=json", "--static", "*", "saltutil.sync_all"])
        for orch in ("orch.cluster", "orch.maas"):
            salt_json(lab, ["salt-run", "--out=json", "state.orchestrate", orch], 900)
        machines = power.enlist(lab)
        fault = ["kubesalt", "sim", "maas", "fault", "--root", "/"]
        lab.exec("maas-region", [*fault, f"deploy_seconds={DEPLOY_SECONDS}"], check=True)
        load = _load()
        before = _api_requests(lab)
        started = time.monotonic()
        run = orchestrate_baremetal(lab, machines)
        nodes = salt_json(lab, ["salt", "--out=json", "--static", "k8s-master*", "microk8s.nodes"])
        seconds = time.monotonic() - started
        requests = _api_requests(lab) - before
        text = run.stdout
        assert run.returncode == 0, text[-3000:]
        ready = {n["name"]: n["ready"] for n in nodes[f"k8s-master.{DOMAIN}"]}
        assert all(ready.get(m["hostname"]) for m in machines.values()), ready
        (steps,) = json.loads(text[text.find("{") :])["data"].values()
        durations = {s["__id__"]: s.get("duration", 0) / 1000 for s in steps.values()}
        deploying = durations["baremetal-deployed"]
        print(
            f"\norch.baremetal, 2 machines, deploy_seconds={DEPLOY_SECONDS} (load {load} at "
            f"start): {seconds:.0f} s to both Ready; steps (s): "
            + ", ".join(f"{k} {v:.1f}" for k, v in durations.items())
            + f"; region API requests during the run: {requests} "
            f"({requests / (deploying / 60):.1f}/min over the deployment step's "
            f"{deploying:.0f} s, the whole run included)"
        )
    finally:
        lab.down()
