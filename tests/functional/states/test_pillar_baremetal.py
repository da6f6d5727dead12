"""pillar/baremetal.sls and pillar/cluster.sls with the machines orch.baremetal recorded,
compiled by Salt's own pillar compiler as the master does: the machines are workers of the
inventory with join tokens; only the first MAAS region gets their user-data."""

import copy
import json
import shutil

import pytest
import salt.pillar

from tests.support.paths import PILLAR_DIR
from tests.support.state_tree import JOIN_SECRET
from tests.support.state_tree import MASTER
from tests.support.state_tree import WORKERS
from tests.support.state_tree import split_example
from tests.support.state_tree import token_for
from tests.support.state_tree import write_sls

WORKER = WORKERS[0]

DOMAIN = "lab.kubesalt.test"
BM = f"k8s-bm-0.{DOMAIN}"
REGION = f"maas-region.{DOMAIN}"
USER_DATA = "#cloud-config\n# -----BEGIN RSA PRIVATE KEY----- of k8s-bm-0\n"


@pytest.fixture
def master_pillar(tmp_path, minion_opts):
    root = tmp_path / "pillar"
    inventory, _ = split_example()
    nodes = inventory["kubesalt"]["nodes"]
    nodes[REGION] = {"roles": ["maas_db", "maas_region"], "private_ip": "10.1.0.30"}
    write_sls(root / "_from_terraform.sls", inventory)
    for name in ("top.sls", "baremetal.sls", "cluster.sls", "_inventory.py"):
        shutil.copy(PILLAR_DIR / name, root / name)
    pki = tmp_path / "pki"
    store = pki / "kubesalt" / "baremetal"
    store.mkdir(parents=True)
    (store / "machines.json").write_text(
        json.dumps({BM: {"machine": "keen-fox", "private_ip": "10.1.0.120"}})
    )
    (store / f"{BM}.user-data").write_text(USER_DATA)
    secret = tmp_path / "join.secret"
    secret.write_text(JOIN_SECRET + "\n")

    def compile_(minion_id, role="master"):
        opts = copy.deepcopy(minion_opts)
        opts.update(
            pillar_roots={"base": [str(root)]},
            kubesalt_join_secret_file=str(secret),
            id=minion_id,
            pki_dir=str(pki),
            __role=role,
        )
        return salt.pillar.get_pillar(opts, {"id": minion_id}, minion_id, "base").compile_pillar()

    return compile_, inventory


def test_machines_are_inventory_workers_with_tokens(master_pillar):
    compile_, inventory = master_pillar
    pillar = compile_(WORKER)["kubesalt"]
    assert pillar["nodes"][BM] == {"roles": ["microk8s_worker"], "private_ip": "10.1.0.120"}
    assert pillar["microk8s"]["workers"] == inventory["kubesalt"]["microk8s"]["workers"] + [BM]
    assert "maas_baremetal" not in compile_(WORKER)
    assert compile_(BM)["kubesalt"]["microk8s"]["join_token"] == token_for(BM)
    assert compile_(MASTER)["kubesalt"]["microk8s"]["join_tokens"][BM] == token_for(BM)


def test_only_the_first_region_gets_the_user_data(master_pillar):
    compile_, _ = master_pillar
    assert compile_(REGION)["maas_baremetal"]["user_data"] == {BM: USER_DATA}
    for minion_id in (WORKER, MASTER, BM, f"salt.{DOMAIN}"):
        assert "PRIVATE KEY" not in json.dumps(compile_(minion_id)), minion_id


def test_a_masterless_minion_gets_nothing_from_the_layer(master_pillar):
    compile_, _ = master_pillar
    pillar = compile_(REGION, role="minion")["kubesalt"]
    assert "baremetal" not in pillar
    assert BM not in pillar["nodes"]
