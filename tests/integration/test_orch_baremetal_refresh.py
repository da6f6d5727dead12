"""orch.baremetal's pillar refresh on a real master: the step as the master renders it (its
own orchestration renderer, pillar given as to ``state.orchestrate``) targets the
inventory's minions only, not a machine whose key the run accepted before MAAS deploys it,
and fails naming an inventory minion that does not answer."""

import pathlib

import pytest
import yaml
from saltfactories.utils import random_string

from tests.support.paths import SALT_DIR

pytestmark = pytest.mark.timeout(300)

ABSENT = "k8s-worker-9.bm.kubesalt.test"  # in the inventory, key accepted, no minion
MACHINE = "k8s-bm-0.bm.kubesalt.test"  # its key accepted in advance, not deployed yet


@pytest.fixture(scope="module")
def master(salt_factories):
    factory = salt_factories.salt_master_daemon(random_string("bm-master-"))
    (factory.state_tree.base.write_path / "orch").symlink_to(SALT_DIR / "states" / "orch")
    with factory.started():
        yield factory


def _accept(master, minion_id, public_key):
    path = pathlib.Path(master.config["pki_dir"]) / "minions" / minion_id
    path.write_text(public_key)
    path.chmod(0o644)


def test_refresh_fails_naming_the_silent_inventory_minion(master):
    live = master.salt_minion_daemon(random_string("bm-live-"))
    with live.started():
        public_key = (pathlib.Path(live.config["pki_dir"]) / "minion.pub").read_text()
        _accept(master, ABSENT, public_key)
        _accept(master, MACHINE, public_key)
        pillar = {
            "kubesalt": {
                "nodes": {
                    live.id: {"roles": ["maas_region"], "private_ip": "10.1.0.30"},
                    ABSENT: {"roles": ["microk8s_worker"], "private_ip": "10.1.0.109"},
                },
                "baremetal": {
                    "machines": {MACHINE: {"machine": "keen-fox", "private_ip": "10.1.0.120"}}
                },
            }
        }
        run = master.salt_run_cli(timeout=120)
        rendered = run.run("salt.cmd", "state.show_sls", "orch.baremetal", pillar=pillar)
        assert rendered.returncode == 0, rendered
        step = rendered.data["baremetal-pillar"]
        args = {k: v for item in step["salt"] if isinstance(item, dict) for k, v in item.items()}
        assert args["tgt"].split(",") == sorted([ABSENT, live.id])
        # The step alone (its requisite, maas_baremetal.prepare, is not what is tried here).
        args.pop("require")
        probe = {"baremetal-pillar": {"salt": ["function", *({k: v} for k, v in args.items())]}}
        (master.state_tree.base.write_path / "bm_probe.sls").write_text(yaml.safe_dump(probe))

        ret = run.run("state.orchestrate", "bm_probe")
        assert ret.data, ret
        ((result,),) = (steps.values() for steps in ret.data["data"].values())
        assert result["result"] is False, result
        assert result["comment"].startswith(
            "Running function saltutil.refresh_pillar failed on minions: "
        ), result
        failed = result["comment"].split(": ", 1)[1].split(" Function ")[0]
        assert failed.split(", ") == [ABSENT]
        assert result["changes"]["ret"][live.id] is True
        assert MACHINE not in result["changes"]["ret"]
