"""The bootstrap runner (salt/_runners/cluster_bootstrap.py) with fake runner functions."""

import fcntl
import json
import logging
import os
import time

import pytest
import salt._logging
import yaml
from salt.exceptions import CommandExecutionError

from tests.support.fake_salt import specced
from tests.support.loading import load_ext

MINIONS = ["bastion.example.internal", "k8s-master.example.internal", "salt.example.internal"]


class FakeMaster:
    """The runner functions the bootstrap calls, recording what it asked for."""

    def __init__(self, answering, orchestration=None):
        self.answering = list(answering)
        self.orchestration = orchestration or {
            "data": {"salt.example.internal_master": {"a": {"result": True, "__id__": "a"}}},
            "retcode": 0,
        }
        self.events = []
        self.calls = []
        self.pillars = []
        self.starting = []  # minions that start answering at the next pings, one list each

    def functions(self):
        return specced(
            "runners",
            {
                "salt.execute": self.execute,
                "state.orchestrate": self.orchestrate,
                "event.send": self.send,
            },
        )

    def execute(self, tgt, fun, tgt_type, timeout):
        assert tgt_type == "list"
        self.calls.append((fun, tgt))
        targets = tgt.split(",")
        if fun == "test.ping":
            self.answering += self.starting.pop(0) if self.starting else []
            # What LocalClient hands back for a listed minion that never connected.
            return {m: (True if m in self.answering else {"failed": True}) for m in targets}
        return {m: {"modules": []} for m in targets if m in self.answering}

    def orchestrate(self, mods, saltenv, pillar=None):
        self.calls.append(("state.orchestrate", mods))
        self.pillars.append(pillar)
        if isinstance(self.orchestration, Exception):
            raise self.orchestration
        return self.orchestration

    def send(self, tag, data):
        self.events.append((tag, data))

    def tags(self):
        return [tag for tag, _ in self.events]


@pytest.fixture(autouse=True)
def _no_deferred_salt_logging():
    # Importing salt installs a handler that buffers records and writes them at exit, when
    # pytest has closed the stream; drop it so the runner's log reaches caplog only.
    salt._logging.shutdown_temp_handler()


@pytest.fixture
def inventory(tmp_path):
    path = tmp_path / "_from_terraform.sls"
    path.write_text(yaml.safe_dump({"kubesalt": {"nodes": {m: {"roles": ["x"]} for m in MINIONS}}}))
    return path


@pytest.fixture
def bootstrap(tmp_path, inventory):
    runner = load_ext("runners", "cluster_bootstrap")
    runner.__opts__ = {
        "cachedir": str(tmp_path / "cache"),
        "cluster_bootstrap": {"inventory": str(inventory)},
    }

    def install(master):
        runner.__salt__ = master.functions()
        return runner

    return install


def test_waits_until_every_minion_answers(bootstrap):
    master = FakeMaster(answering=MINIONS[:2])
    ret = bootstrap(master).run(trigger="k8s-master.example.internal")
    assert ret == {"result": "waiting", "missing": ["salt.example.internal"]}
    assert master.tags() == ["kubesalt/bootstrap/waiting"]
    assert master.events[0][1]["missing"] == ["salt.example.internal"]
    assert ("state.orchestrate", "orch.cluster") not in master.calls


def test_runs_once_when_all_answer(bootstrap):
    master = FakeMaster(answering=MINIONS)
    runner = bootstrap(master)
    ret = runner.run(trigger="salt.example.internal")
    assert ret["result"] == "done"
    assert master.calls == [
        ("test.ping", ",".join(MINIONS)),
        ("saltutil.sync_all", ",".join(MINIONS)),
        ("state.orchestrate", "orch.cluster"),
    ]
    assert master.tags() == [
        "kubesalt/bootstrap/start",
        "kubesalt/bootstrap/synced",
        "kubesalt/bootstrap/done",
    ]
    # Later minion starts and the schedule do nothing for the same inventory...
    master.calls.clear()
    assert runner.run(trigger="bastion.example.internal")["result"] == "already-done"
    assert master.calls == []
    # ...unless forced.
    assert runner.run(force=True)["result"] == "done"
    assert ("state.orchestrate", "orch.cluster") in master.calls


def test_a_changed_inventory_runs_again(bootstrap, inventory):
    master = FakeMaster(answering=[*MINIONS, "k8s-worker-0.example.internal"])
    runner = bootstrap(master)
    assert runner.run()["result"] == "done"
    data = yaml.safe_load(inventory.read_text())
    data["kubesalt"]["nodes"]["k8s-worker-0.example.internal"] = {"roles": ["microk8s_worker"]}
    inventory.write_text(yaml.safe_dump(data))
    master.calls.clear()
    assert runner.run()["result"] == "done"
    assert ("saltutil.sync_all", ",".join(sorted(data["kubesalt"]["nodes"]))) in master.calls


def test_failed_orchestration_is_reported_and_retried(bootstrap, tmp_path, caplog):
    failing = {
        "data": {
            "salt_master": {
                "salt_|-cluster-workers_|-cluster-workers_|-state": {
                    "result": False,
                    "__id__": "cluster-workers",
                },
                "salt_|-cluster-salt-master_|-x_|-state": {
                    "result": True,
                    "__id__": "cluster-salt-master",
                },
            }
        },
        "retcode": 1,
    }
    master = FakeMaster(answering=MINIONS, orchestration=failing)
    runner = bootstrap(master)
    ret = runner.run()
    assert ret["result"] == "failed"
    assert "cluster-workers" in ret["error"] and "cluster-salt-master" not in ret["error"]
    assert master.tags()[-1] == "kubesalt/bootstrap/failed"
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("salt-run cluster_bootstrap.run" in m and "cluster-workers" in m for m in errors)
    state = json.loads((tmp_path / "cache" / "cluster_bootstrap" / "state.json").read_text())
    assert state["result"] == "failed"
    # The next trigger tries again, and succeeds once the cause is fixed.
    master.orchestration = {"data": {"m": {"s": {"result": True}}}, "retcode": 0}
    assert runner.run()["result"] == "done"


def test_orchestration_render_errors_are_failures(bootstrap):
    master = FakeMaster(
        answering=MINIONS,
        orchestration={"data": {"m": ["Rendering SLS 'base:orch.cluster' failed"]}, "retcode": 1},
    )
    ret = bootstrap(master).run()
    assert ret["result"] == "failed"
    assert "Rendering SLS" in ret["error"]


def test_an_exception_is_reported_and_releases_the_lock(bootstrap):
    master = FakeMaster(answering=MINIONS, orchestration=RuntimeError("master minion crashed"))
    runner = bootstrap(master)
    assert runner.run() == {"result": "failed", "error": "master minion crashed"}
    master.orchestration = {"data": {}, "retcode": 0}
    assert runner.run()["result"] == "done"


def test_minion_that_does_not_sync_fails_the_run(bootstrap):
    master = FakeMaster(answering=MINIONS)
    ping = master.execute
    master.execute = lambda tgt, fun, tgt_type, timeout: (
        ping(tgt, fun, tgt_type, timeout) if fun == "test.ping" else {MINIONS[0]: {}}
    )
    ret = bootstrap(master).run()
    assert ret["result"] == "failed"
    assert "did not return from" in ret["error"]
    assert ("state.orchestrate", "orch.cluster") not in master.calls


def test_concurrent_trigger_is_busy(bootstrap, tmp_path):
    master = FakeMaster(answering=MINIONS)
    runner = bootstrap(master)
    lock_dir = tmp_path / "cache" / "cluster_bootstrap"
    lock_dir.mkdir(parents=True)
    fd = os.open(lock_dir / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert runner.run(trigger="x") == {"result": "busy"}
        assert master.calls == []
    finally:
        os.close(fd)
    assert runner.run()["result"] == "done"


def test_missing_or_broken_inventory(bootstrap, inventory):
    runner = bootstrap(FakeMaster(answering=MINIONS))
    inventory.write_text("kubesalt: {domain: x}\n")
    with pytest.raises(CommandExecutionError, match="holds no kubesalt:nodes"):
        runner.run()
    inventory.unlink()
    with pytest.raises(CommandExecutionError, match="cannot read the inventory"):
        runner.run()


def test_status(bootstrap):
    master = FakeMaster(answering=MINIONS[1:])
    status = bootstrap(master).status()
    assert status["expected"] == MINIONS
    assert status["missing"] == [MINIONS[0]]
    assert status["done"] is False


def test_only_runs_before_any_convergence_are_first_runs(bootstrap, inventory):
    """orch.cluster skips its converged-cluster preview when told first_run: only while no
    inventory has converged (a failed first run retried is still one; a forced or changed
    inventory's run after a convergence is not)."""
    first = {"kubesalt_bootstrap": {"first_run": True}}
    master = FakeMaster(answering=MINIONS, orchestration={"retcode": 1})
    runner = bootstrap(master)
    assert runner.run()["result"] == "failed"
    master.orchestration = {}
    assert runner.run()["result"] == "done"
    assert master.pillars == [first, first]
    assert runner.run(force=True)["result"] == "done"
    inventory.write_text(yaml.safe_dump({"kubesalt": {"nodes": {MINIONS[0]: {"roles": ["x"]}}}}))
    master.answering = MINIONS[:1]
    assert runner.run()["result"] == "done"
    assert runner.run(force=True)["result"] == "done"
    assert master.pillars == [first, first, None, None, None]


def test_the_starting_minion_gets_a_while_to_answer(bootstrap):
    """The minion whose start event triggered the run, not answering its first ping yet (its
    first job on a loaded host), is pinged again for a bounded while: the run converges then,
    not at the schedule's next tick."""
    master = FakeMaster(answering=MINIONS[:2])
    master.starting = [[], [MINIONS[2]]]
    ret = bootstrap(master).run(trigger=MINIONS[2])
    assert ret["result"] == "done"
    assert [fun for fun, _ in master.calls].count("test.ping") == 2


def test_only_the_starting_minion_is_waited_for(bootstrap):
    """A trigger that answers while others are missing (hosts still booting) returns at once;
    a starting minion that never answers, at starting_wait."""
    master = FakeMaster(answering=MINIONS[:2])
    runner = bootstrap(master)
    assert runner.run(trigger=MINIONS[0])["result"] == "waiting"
    assert [fun for fun, _ in master.calls] == ["test.ping"]
    runner.__opts__["cluster_bootstrap"]["starting_wait"] = 0.5
    master.calls.clear()
    started = time.monotonic()
    assert runner.run(trigger=MINIONS[2])["result"] == "waiting"
    assert 0.5 <= time.monotonic() - started < 5
    assert [fun for fun, _ in master.calls].count("test.ping") == 2


def test_a_minion_that_started_during_a_run_is_waited_for_too(bootstrap, tmp_path):
    """Every minion starts within a second on a fresh deployment: the later triggers find the
    lock held (busy), and the holder waits for those minions as for its own trigger."""
    master = FakeMaster(answering=MINIONS[:1])
    runner = bootstrap(master)
    master.starting = [[], [MINIONS[1]], [MINIONS[2]]]
    lock = tmp_path / "cache" / "cluster_bootstrap" / "lock"
    lock.parent.mkdir(parents=True)
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert runner.run(trigger=MINIONS[1])["result"] == "busy"
        assert runner.run(trigger=MINIONS[2])["result"] == "busy"
    assert master.calls == []
    assert runner.run(trigger=MINIONS[0])["result"] == "done"
    assert [fun for fun, _ in master.calls].count("test.ping") == 3
    assert not (lock.parent / "starting").exists()
