"""orch/baremetal.sls rendered as the master renders it (its pillar compiled with the master's
role, so pillar/baremetal.sls adds the machines the last run recorded): the pillar refresh
targets exactly the inventory's minions and fails for one that does not answer; the
machines, which may not run yet, are refreshed once they answer."""

import json
import shutil

import pytest
import yaml

from tests.support.state_tree import EXAMPLE
from tests.support.state_tree import ORCH_DIR
from tests.support.state_tree import args_of
from tests.support.state_tree import split_example
from tests.support.state_tree import write_sls

DOMAIN = "lab.kubesalt.test"
REGION = f"maas-region.{DOMAIN}"
# k8s-bm-0 was recorded by the last run (and is in the inventory now); k8s-bm-1 is new.
RECORDED = f"k8s-bm-0.{DOMAIN}"
NEW = f"k8s-bm-1.{DOMAIN}"
MACHINES = {
    RECORDED: {"machine": "keen-fox", "private_ip": "10.1.0.120"},
    NEW: {"machine": "calm-owl", "private_ip": "10.1.0.121"},
}
INVENTORY_MINIONS = sorted([*EXAMPLE["kubesalt"]["nodes"], REGION])


@pytest.fixture(scope="module")
def steps(node_loaders, pillar_root, tmp_path_factory):
    work = tmp_path_factory.mktemp("orch-baremetal")
    root = work / "pillar"
    shutil.copytree(pillar_root, root)
    inventory, _ = split_example()
    inventory["kubesalt"]["nodes"][REGION] = {"roles": ["maas_region"], "private_ip": "10.1.0.30"}
    write_sls(root / "_from_terraform.sls", inventory)
    # The run's machines (salt-run state.orchestrate orch.baremetal pillar=...): the orchestration
    # pillar merges them over the recorded ones, as this layer does.
    defaults = root / "environments" / "defaults.sls"
    layer = yaml.safe_load(defaults.read_text(encoding="utf-8")) or {}
    layer.setdefault("kubesalt", {})["baremetal"] = {"machines": MACHINES}
    write_sls(defaults, layer)
    store = work / "pki" / "kubesalt" / "baremetal"
    store.mkdir(parents=True)
    (store / "machines.json").write_text(json.dumps({RECORDED: MACHINES[RECORDED]}))
    loaders = node_loaders(
        "salt_master",
        __role="master",
        pki_dir=str(work / "pki"),
        pillar_roots={"base": [str(root)]},
    )
    assert RECORDED in loaders.pillar["kubesalt"]["nodes"]
    return loaders.modules.slsutil.renderer(path=str(ORCH_DIR / "baremetal.sls"))


def test_steps_in_order(steps):
    assert list(steps) == [
        "baremetal-prepare",
        "baremetal-pillar",
        "baremetal-deployed",
        "baremetal-minions",
        "baremetal-machines-pillar",
        "baremetal-cluster",
    ]
    assert args_of(steps["baremetal-deployed"])["tgt"] == REGION
    assert args_of(steps["baremetal-minions"])["minions"] == [RECORDED, NEW]


def test_pillar_refresh_targets_the_inventory_and_fails_for_a_silent_minion(steps):
    refresh = args_of(steps["baremetal-pillar"])
    assert refresh["name"] == "saltutil.refresh_pillar"
    # Not '*': that includes the machines' keys, accepted before MAAS deploys them.
    assert refresh["tgt_type"] == "list"
    assert refresh["tgt"].split(",") == INVENTORY_MINIONS
    assert refresh["expect_minions"] is True
    assert refresh["require"] == [{"salt": "baremetal-prepare"}]


def test_machines_refresh_once_they_answer(steps):
    refresh = args_of(steps["baremetal-machines-pillar"])
    assert refresh["name"] == "saltutil.refresh_pillar"
    assert (refresh["tgt"], refresh["tgt_type"]) == (f"{RECORDED},{NEW}", "list")
    assert refresh["expect_minions"] is True
    assert refresh["require"] == [{"salt": "baremetal-minions"}]
    assert args_of(steps["baremetal-cluster"])["require"] == [{"salt": "baremetal-machines-pillar"}]
