"""Three control planes give MicroK8s an HA datastore: three dqlite voters."""

from __future__ import annotations

import pytest

from tests.support.lab import lab_up
from tests.support.lab_salt import DOMAIN
from tests.support.lab_salt import cluster_nodes
from tests.support.lab_salt import orchestrate
from tests.support.lab_salt import salt_json

MASTER = f"k8s-master.{DOMAIN}"


@pytest.fixture(scope="module")
def ha_cluster(tmp_path_factory):
    with lab_up(tmp_path_factory, workers=1, control_planes=3) as lab:
        salt_json(lab, ["salt", "--out=json", "--static", "*", "saltutil.sync_all"])
        yield lab, orchestrate(lab)


@pytest.mark.lab
def test_three_control_planes_are_three_voters(ha_cluster):
    lab, run = ha_cluster
    failed = {step: s["comment"] for step, s in run.steps.items() if not s["result"]}
    assert not failed
    joins = [step for step in run.steps if step.startswith("cluster-control-plane-")]
    assert len(joins) == 3 and joins[0] == f"cluster-control-plane-{MASTER}"
    status = salt_json(lab, ["salt", "--out=json", "--static", MASTER, "microk8s.status"])
    ha = status[MASTER]["high_availability"]
    assert ha["enabled"] is True
    assert sorted(node["role"] for node in ha["nodes"]) == ["voter", "voter", "voter"]
    nodes = cluster_nodes(lab)
    assert len(nodes) == 4 and all(node["ready"] for node in nodes.values())
