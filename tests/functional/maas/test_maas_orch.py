"""orch.maas rendered with an inventory: phase 1 (database, regions in order, then itself
again for phase 2) and phase 2 (racks, images, API key) when the pillar holds the secrets
(otherwise they are read from the first region, which needs a master)."""

import pytest

NODES = {
    "maas-db.lab.test": {"roles": ["maas_db"]},
    "maas-region-0.lab.test": {"roles": ["maas_region"]},
    "maas-region-1.lab.test": {"roles": ["maas_region"]},
    "maas-rack-0.lab.test": {"roles": ["maas_rack"]},
    "maas-rack-1.lab.test": {"roles": ["maas_rack"]},
    "k8s-master.lab.test": {"roles": ["microk8s_control_plane"]},
}


@pytest.fixture(scope="module")
def minion_config_overrides(tmp_path_factory):
    return {"pillar_roots": {"base": [str(tmp_path_factory.mktemp("empty-pillar"))]}}


def inventory(**maas):
    pillar = {"kubesalt": {"nodes": NODES, "microk8s": {"control_planes": ["k8s-master.lab.test"]}}}
    if maas:
        pillar["maas"] = maas
    return pillar


def steps(high):
    return {
        sid: next(v for k, v in body.items() if not k.startswith("__"))
        for sid, body in high.items()
    }


def arg(step, name):
    for item in step:
        if isinstance(item, dict) and name in item:
            return item[name]
    return None


def test_phase_one_database_then_regions_one_at_a_time(modules):
    high = modules.state.show_sls("orch.maas", pillar=inventory())
    assert isinstance(high, dict), high
    plan = steps(high)
    assert set(plan) == {
        "maas-orch-db",
        "maas-orch-region-1",
        "maas-orch-region-2",
        "maas-orch-join",
    }
    assert arg(plan["maas-orch-region-1"], "tgt") == "maas-region-0.lab.test"
    assert {"salt": "maas-orch-region-1"} in arg(plan["maas-orch-region-2"], "require")
    assert arg(plan["maas-orch-join"], "pillar") == {"maas_orch_phase": "join"}


def test_phase_two_racks_images_key(modules):
    secret = "00ff" * 8
    key = "a" * 18 + ":" + "b" * 18 + ":" + "c" * 32
    pillar = inventory(rack={"secret": secret}, api_key=key)
    pillar["maas_orch_phase"] = "join"
    plan = steps(modules.state.show_sls("orch.maas", pillar=pillar))
    assert set(plan) == {"maas-orch-racks", "maas-orch-sync", "maas-orch-apikey"}
    assert arg(plan["maas-orch-racks"], "tgt") == "maas-rack-0.lab.test,maas-rack-1.lab.test"
    assert arg(plan["maas-orch-racks"], "pillar") == {
        "maas": {"rack": {"secret": secret}, "api_key": key}
    }
    assert arg(plan["maas-orch-sync"], "tgt") == "maas-region-0.lab.test"
    assert arg(plan["maas-orch-apikey"], "tgt") == "k8s-master.lab.test"
