"""No manual step after boot: a real master's reactor runs the bootstrap once all minions
of the inventory have started (salt/states/reactor + salt/_runners/cluster_bootstrap.py)."""

import json
import pathlib
import textwrap
import time

import pytest
import yaml
from saltfactories.utils import random_string

from tests.support.paths import SALT_DIR

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def minion_ids():
    return [random_string("boot-a-"), random_string("boot-b-")]


@pytest.fixture(scope="module")
def bootstrap_master(salt_factories, tmp_path_factory, minion_ids):
    work = tmp_path_factory.mktemp("bootstrap")
    inventory = work / "_from_terraform.sls"
    inventory.write_text(
        yaml.safe_dump(
            {"kubesalt": {"nodes": {m: {"roles": ["microk8s_worker"]} for m in minion_ids}}}
        )
    )
    factory = salt_factories.salt_master_daemon(
        random_string("bootstrap-master-"),
        overrides={
            "runner_dirs": [str(SALT_DIR / "_runners")],
            "reactor": [{"salt/minion/*/start": ["salt://reactor/minion_start.sls"]}],
            "cluster_bootstrap": {
                "inventory": str(inventory),
                "orchestration": "orch.probe",
                "ping_timeout": 5,
            },
        },
    )
    (factory.state_tree.base.write_path / "reactor").symlink_to(SALT_DIR / "states" / "reactor")
    # A stand-in for orch.cluster: proves the orchestration ran on every minion after sync.
    orch = factory.state_tree.base.write_path / "orch"
    orch.mkdir()
    (orch / "probe.sls").write_text(
        textwrap.dedent(
            """\
            probe-every-minion:
              salt.function:
                - name: test.ping
                - tgt: '*'
            """
        )
    )
    with factory.started():
        yield factory


def _state(master):
    path = pathlib.Path(master.config["cachedir"]) / "cluster_bootstrap" / "state.json"
    return json.loads(path.read_text()) if path.exists() else {}


def test_reactor_waits_for_every_minion_then_orchestrates_once(
    bootstrap_master, minion_ids, event_listener
):
    first = bootstrap_master.salt_minion_daemon(minion_ids[0])
    second = bootstrap_master.salt_minion_daemon(minion_ids[1])
    start = time.time()
    with first.started():
        waiting = event_listener.wait_for_events(
            [(bootstrap_master.id, "kubesalt/bootstrap/waiting")], after_time=start, timeout=90
        )
        assert waiting.found_all_events, "the reactor did not call the bootstrap runner"
        assert next(iter(waiting.matches)).data["missing"] == [minion_ids[1]]
        assert _state(bootstrap_master) == {}

        with second.started():
            done = event_listener.wait_for_events(
                [
                    (bootstrap_master.id, "kubesalt/bootstrap/start"),
                    (bootstrap_master.id, "kubesalt/bootstrap/synced"),
                    (bootstrap_master.id, "kubesalt/bootstrap/done"),
                ],
                after_time=start,
                timeout=180,
            )
            assert done.found_all_events, f"missed: {done.missed}"
            state = _state(bootstrap_master)
            assert state["result"] == "done"
            assert state["trigger"] == minion_ids[1]

            # Later triggers change nothing: the run is recorded for this inventory.
            ret = bootstrap_master.salt_run_cli(timeout=60).run("cluster_bootstrap.run")
            assert ret.returncode == 0, ret
            assert ret.data == {"result": "already-done", "digest": state["digest"]}
            status = bootstrap_master.salt_run_cli(timeout=60).run("cluster_bootstrap.status")
            assert status.data["done"] is True
            assert status.data["missing"] == []
