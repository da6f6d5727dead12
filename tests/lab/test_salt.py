"""Salt in the lab: a master on `salt`, a minion on every host, keys accepted explicitly."""

from __future__ import annotations

import json

import pytest
import yaml

from kubesalt.lab import topology
from tests.support.lab_salt import assert_master_runs_as_salt
from tests.support.paths import REPO_ROOT

EXPECTED_IDS = {
    "salt.lab.kubesalt.test",
    "bastion.lab.kubesalt.test",
    "k8s-master.lab.kubesalt.test",
    "k8s-worker-0.lab.kubesalt.test",
    "k8s-worker-1.lab.kubesalt.test",
}


def _salt_call(lab, host, *args):
    # --local: the host's own view (a round trip through the master costs ~3 s per call).
    run = lab.exec(host, ["salt-call", "--local", "--out=json", *args], check=True)
    return json.loads(run.stdout)["local"]


def test_every_minion_answers_through_the_master(salt_lab):
    run = salt_lab.salt(["--out=json", "--static", "*", "test.ping"], check=True)
    assert json.loads(run.stdout) == dict.fromkeys(EXPECTED_IDS, True)


def test_keys_were_accepted_one_by_one_not_automatically(salt_lab):
    keys = json.loads(salt_lab.exec("salt", ["salt-key", "--out=json", "-L"], check=True).stdout)
    assert set(keys["minions"]) == EXPECTED_IDS
    assert keys["minions_pre"] == keys["minions_rejected"] == keys["minions_denied"] == []
    config = yaml.safe_load(salt_lab.exec("salt", ["cat", "/etc/salt/master"], check=True).stdout)
    assert config["auto_accept"] is False and config["open_mode"] is False
    log = salt_lab.exec("salt", ["cat", "/var/log/salt/master"], check=True).stdout
    for minion_id in EXPECTED_IDS:  # every key waited in "pending" until salt-key -a
        assert f"New public key for {minion_id} placed in pending" in log


def test_master_runs_as_salt_like_the_packages_run_it(salt_lab):
    assert_master_runs_as_salt(salt_lab)
    config = yaml.safe_load(salt_lab.exec("salt", ["cat", "/etc/salt/master"], check=True).stdout)
    assert config["user"] == "salt"
    # Runners run as the master's user too: salt-run drops to it, like the daemon.
    whoami = salt_lab.exec("salt", ["salt-run", "--out=json", "salt.cmd", "cmd.run", "id -un"])
    assert json.loads(whoami.stdout) == "salt", whoami.stderr


def test_minion_id_is_the_fqdn(salt_lab):
    assert _salt_call(salt_lab, "k8s-worker-1", "grains.get", "id") == (
        "k8s-worker-1.lab.kubesalt.test"
    )
    assert _salt_call(salt_lab, "k8s-worker-1", "grains.get", "host") == "k8s-worker-1"


def test_services_behave_like_on_a_debian_host(salt_lab):
    host = "bastion"
    assert _salt_call(salt_lab, host, "service.status", "salt-minion") is True
    assert _salt_call(salt_lab, host, "service.enabled", "salt-minion") is True
    assert _salt_call(salt_lab, host, "service.available", "ssh") is True
    assert _salt_call(salt_lab, host, "service.status", "ssh") is False
    assert _salt_call(salt_lab, host, "service.start", "ssh") is True
    assert _salt_call(salt_lab, host, "service.status", "ssh") is True
    listening = salt_lab.exec(host, ["ss", "-Htln"], check=True).stdout
    assert ":22 " in listening
    assert _salt_call(salt_lab, host, "service.stop", "ssh") is True
    assert _salt_call(salt_lab, host, "service.status", "ssh") is False
    status = salt_lab.exec("salt", ["service", "salt-master", "status"])
    assert status.returncode == 0 and "is running" in status.stdout


def test_master_serves_the_work_tree_read_only(salt_lab):
    top = salt_lab.exec("salt", ["cat", "/srv/kubesalt/states/top.sls"], check=True).stdout
    assert top == (REPO_ROOT / "salt" / "states" / "top.sls").read_text()
    for path in ("/srv/kubesalt/states/x", "/srv/kubesalt/salt/x", "/srv/kubesalt/pillar/x"):
        refused = salt_lab.exec("salt", ["touch", path])
        assert refused.returncode != 0 and "Read-only file system" in refused.stderr
    assert not (REPO_ROOT / "salt" / "x").exists()
    files = salt_lab.exec("salt", ["salt-run", "--out=json", "fileserver.file_list"], check=True)
    assert "top.sls" in json.loads(files.stdout)


def test_inventory_pillar_is_written_for_the_master(salt_lab):
    text = salt_lab.exec(
        "salt", ["cat", "/srv/kubesalt/lab-pillar/_from_terraform.sls"], check=True
    ).stdout
    assert yaml.safe_load(text) == topology.inventory(topology.build_hosts(workers=2))


def test_modules_sync_from_the_work_tree(salt_lab):
    run = salt_lab.salt(["--out=json", "--static", "*", "saltutil.sync_modules"], check=True)
    synced = json.loads(run.stdout)
    assert set(synced) == EXPECTED_IDS
    for modules in synced.values():
        assert "modules.microk8s" in modules


def test_microk8s_simulator_is_installed_in_the_hosts(salt_lab):
    probe = salt_lab.exec("k8s-master", ["sh", "-c", "command -v snap"])
    if not (REPO_ROOT / "kubesalt" / "sim" / "microk8s" / "snapcmd.py").exists():
        pytest.skip("the MicroK8s simulator is not in this work tree")
    assert probe.returncode == 0, "no snap command in the host"
    assert probe.stdout.strip() == "/usr/local/bin/snap"
