"""orch.maas rendered with an inventory: the database, the regions one at a time, the racks,
the images on the first region, the API key on the first control plane. It never reads a
secret while rendering and passes none as pillar (the minions' own pillar, compiled on the
master, carries them: pillar/maas.sls)."""

import json

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


def test_database_regions_racks_images_key_in_order(modules):
    pillar = inventory(
        rack={"secret": "00ff" * 8}, api_key="a" * 18 + ":" + "b" * 18 + ":" + "c" * 32
    )
    high = modules.state.show_sls("orch.maas", pillar=pillar)
    assert isinstance(high, dict), high
    plan = steps(high)
    assert set(plan) == {
        "maas-orch-db",
        "maas-orch-region-1",
        "maas-orch-region-2",
        "maas-orch-racks",
        "maas-orch-sync",
        "maas-orch-apikey",
    }
    assert arg(plan["maas-orch-region-1"], "tgt") == "maas-region-0.lab.test"
    assert {"salt": "maas-orch-region-1"} in arg(plan["maas-orch-region-2"], "require")
    assert arg(plan["maas-orch-racks"], "tgt") == "maas-rack-0.lab.test,maas-rack-1.lab.test"
    assert {"salt": "maas-orch-region-2"} in arg(plan["maas-orch-racks"], "require")
    assert arg(plan["maas-orch-sync"], "tgt") == "maas-region-0.lab.test"
    assert {"salt": "maas-orch-racks"} in arg(plan["maas-orch-sync"], "require")
    assert arg(plan["maas-orch-apikey"], "tgt") == "k8s-master.lab.test"
    # No step carries pillar: no secret in the orchestration, its job or the job cache.
    for step in plan.values():
        assert arg(step, "pillar") is None
    rendered = json.dumps(high)
    assert "00ff" * 8 not in rendered and "c" * 32 not in rendered


def test_without_racks_or_control_plane(modules):
    nodes = {k: v for k, v in NODES.items() if "maas_rack" not in v["roles"]}
    pillar = {"kubesalt": {"nodes": nodes}}
    plan = steps(modules.state.show_sls("orch.maas", pillar=pillar))
    assert set(plan) == {
        "maas-orch-db",
        "maas-orch-region-1",
        "maas-orch-region-2",
        "maas-orch-sync",
    }
