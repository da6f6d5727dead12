"""Day 2 by `terraform apply` in a backed lab cloud (issue 11): the time from `terraform apply
-replace=openstack_compute_instance_v2.salt_master` to every minion answering the new master
and to the cluster Ready; from `terraform apply -var=num_kube_nodes=+1` to the new node Ready,
from the -1 apply to the node gone from the cluster; the plans' resource counts.

    KUBESALT_LAB_DIR=... .venv/bin/python -m pytest tests/bench/bench_labcloud_scale.py \
        -o python_files='bench_*.py' -s

One cloud: the root module applied with 1 control plane and 1 worker (plus the master and the
bastion) and the cluster Ready; then the master rebuilt (timed; skipped while lab-cloud volumes
are not block devices: the rebuilt master would have a fresh /srv), +1 (timed to Ready), -1
(timed to the node gone, the removal run by Terraform over the operator's ssh,
terraform/membership.tf); destroy.
"""

import re
import time

import pytest

from kubesalt.cloud import install
from kubesalt.cloud import instances
from kubesalt.cloud.demo import CloudHosts
from kubesalt.cloud.workspace import Workspace
from kubesalt.cloud.workspace import deploy_key
from kubesalt.cloud.workspace import lab_tfvars
from kubesalt.lab import demo as lab_demo
from kubesalt.lab import requirements_problem
from kubesalt.tf import engine as tf_engine
from tests.support.waiting import wait_until

TIMEOUT = 1200.0


def _counts(text: str) -> str:
    found = re.search(r"Plan: \d+ to add, \d+ to change, \d+ to destroy", text)
    assert found, text[-2000:]
    return found.group(0)


def _ready(hosts: CloudHosts, wanted: set[str], started: float) -> float:
    def done():
        nodes = hosts.nodes()
        return set(nodes) == wanted and all(n.get("ready") for n in nodes.values())

    wait_until(done, TIMEOUT, f"nodes {sorted(wanted)} Ready", interval=2)
    return time.monotonic() - started


MASTER_INSTANCE = "openstack_compute_instance_v2.salt_master"


def _rebuild(workspace: Workspace, hosts: CloudHosts) -> str:
    """``terraform apply -replace`` of the master, timed to every minion answering it and to
    the cluster Ready; what to print."""
    if not hosts.has_volume_disk("salt"):
        return "not run (the master has no volume as a block device)"
    everyone = hosts.answering("salt")
    plan = _counts(workspace.plan(f"-replace={MASTER_INSTANCE}").stdout)
    load = open("/proc/loadavg").read().strip()
    started = time.monotonic()
    result = workspace.apply(f"-replace={MASTER_INSTANCE}")
    assert result.returncode == 0, result.stderr[-2000:]
    applied = time.monotonic() - started
    wait_until(lambda: hosts.answering("salt") == everyone, TIMEOUT, "every minion", interval=2)
    answering = time.monotonic() - started
    ready = _ready(hosts, {"k8s-master", "k8s-worker-0"}, started)
    return (
        f"{plan}; apply {applied:.0f} s, every minion answers the new master {answering:.0f} s, "
        f"cluster Ready {ready:.0f} s (load at the apply: {load})"
    )


def test_scale_by_terraform_apply(tmp_path):
    problem = requirements_problem()
    if problem:
        pytest.skip(problem)
    engine = tf_engine.find_engine()
    cloud = tmp_path / "cloud"
    install.install(cloud, hosts=True)
    try:
        workspace = Workspace(tmp_path / "root", cloud, engine)
        workspace.prepare(lab_tfvars(deploy_key(cloud), workers=1, remove_nodes_over_ssh=True))
        workspace.init()
        assert workspace.apply().returncode == 0
        hosts = CloudHosts(cloud)
        assert lab_demo.wait_bootstrap(hosts, lambda message: None) == []
        _ready(hosts, {"k8s-master", "k8s-worker-0"}, time.monotonic())
        rebuild = _rebuild(workspace, hosts)
        plus = _counts(workspace.plan("-var=num_kube_nodes=2").stdout)
        load = open("/proc/loadavg").read().strip()
        started = time.monotonic()
        result = workspace.apply("-var=num_kube_nodes=2")
        applied = time.monotonic() - started
        assert result.returncode == 0, result.stderr[-2000:]
        ready = _ready(hosts, {"k8s-master", "k8s-worker-0", "k8s-worker-1"}, started)
        minus = _counts(workspace.plan("-var=num_kube_nodes=1").stdout)
        workspace.operator_ssh(tmp_path / "operator")
        started = time.monotonic()
        result = workspace.apply("-var=num_kube_nodes=1")
        removed_apply = time.monotonic() - started
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        gone = _ready(hosts, {"k8s-master", "k8s-worker-0"}, started)
        print(
            f"\nmaster rebuild: {rebuild}\n+1: {plus}; apply {applied:.0f} s, new node Ready "
            f"{ready:.0f} s after the apply started\n-1: {minus}; apply (with the removal over "
            f"ssh) {removed_apply:.0f} s, node gone from the cluster {gone:.0f} s\n"
            f"load at +1: {load}; at the end: {open('/proc/loadavg').read().strip()}"
        )
        assert workspace.destroy().returncode == 0
    finally:
        instances.stop(cloud)
        install.remove(cloud)
