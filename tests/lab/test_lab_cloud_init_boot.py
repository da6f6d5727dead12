"""`make demo-lab` (`kubesalt lab demo --boot cloud-init`, here with one worker), run as a
command as a user runs it: hosts boot from Terraform-rendered user-data, like VMs, and the
master's own bootstrap (reactor: sync, orch.cluster) rolls the cluster out until every node
is Ready. Then the lab's part: seeds, cloud-init's four boot stages in each host, Salt
configured by the user-data with keys accepted in advance, the master as user `salt`.
"""

from __future__ import annotations

import json

import pytest

from kubesalt.lab.lab import salt_bin_dir
from tests.support.lab_demo import demo_lab
from tests.support.lab_salt import assert_master_runs_as_salt

HOSTS = ("salt", "bastion", "k8s-master", "k8s-worker-0")
IDS = {f"{host}.lab.kubesalt.test" for host in HOSTS}
MASTER_OPTS = (
    "import json, salt.config; o = salt.config.master_config('/etc/salt/master'); "
    "print(json.dumps({k: o[k] for k in ('auto_accept', 'open_mode', 'pki_dir')}))"
)


# What `make demo-lab` runs (README), with one worker: salt, bastion, k8s-master, k8s-worker-0.
DEMO = ["lab", "demo", "--boot", "cloud-init", "--workers", "1"]
DEMO_TIMEOUT = 1500
pytestmark = pytest.mark.timeout(DEMO_TIMEOUT + 600)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    with demo_lab(tmp_path_factory, DEMO, "test_lab_cloud_init_boot", DEMO_TIMEOUT) as found:
        yield found


@pytest.fixture(scope="module")
def booted_lab(demo_run):
    return demo_run.lab


@pytest.mark.lab
def test_the_demo_ends_with_every_node_ready(demo_run):
    """The master's bootstrap converged the cluster by itself: the demo's exit status and
    summary, and the bootstrap's own record (no failed state)."""
    run = demo_run.run
    ready = "done: 2/2 Kubernetes nodes Ready (cluster ready)"
    assert run.returncode == 0 and ready in run.text, (
        f"the demo failed (exit {run.returncode}; all of it in {run.path}):\n{run.text[-6000:]}"
    )
    status = demo_run.lab.exec("salt", ["salt-run", "--out=json", "cluster_bootstrap.status"])
    record = json.loads(status.stdout)
    assert record["done"] is True and record["last_run"]["result"] == "done", record


@pytest.mark.lab
def test_every_host_booted_with_cloud_init(booted_lab):
    for host in HOSTS:
        status = booted_lab.exec(host, ["cloud-init", "status", "--long"])
        assert "status: done" in status.stdout, (host, status.stdout, status.stderr)
        seed = booted_lab.exec(host, ["stat", "-c", "%a", "/var/lib/cloud/seed/nocloud/user-data"])
        assert seed.stdout.strip() == "600"
    assert booted_lab.exec("outside", ["test", "-e", "/var/lib/cloud/seed/nocloud"]).returncode


@pytest.mark.lab
def test_minions_answer_with_keys_accepted_by_the_user_data(booted_lab):
    run = booted_lab.salt(["--out=json", "--static", "*", "test.ping"], check=True)
    assert json.loads(run.stdout) == dict.fromkeys(IDS, True)
    salt_python = str(salt_bin_dir() / "python")  # the hosts run the project's own Salt
    # The master accepts exactly the keys the user-data gave the minions: nothing waited in
    # "pending", and neither auto_accept nor open_mode is on.
    opts = json.loads(booted_lab.exec("salt", [salt_python, "-c", MASTER_OPTS], check=True).stdout)
    assert opts["auto_accept"] is False and opts["open_mode"] is False
    pki = opts["pki_dir"]
    pending = booted_lab.exec("salt", ["ls", "-A", f"{pki}/minions_pre"], check=True).stdout
    assert pending == ""
    for host in HOSTS:
        minion_key = booted_lab.exec(host, ["cat", "/etc/salt/pki/minion/minion.pub"], check=True)
        accepted = booted_lab.exec("salt", ["cat", f"{pki}/minions/{host}.lab.kubesalt.test"])
        assert accepted.returncode == 0 and accepted.stdout.strip() == minion_key.stdout.strip()


@pytest.mark.lab
def test_master_runs_as_salt_with_the_bootstrap_s_ownership(booted_lab):
    # The user-data's bootstrap chowns the master's keys and pillar (on the volume) to salt.
    assert_master_runs_as_salt(booted_lab, pki_dir="/srv/pki/master")
    pillar = booted_lab.exec("salt", ["stat", "-c", "%U:%G", "/srv/pillar/_from_terraform.sls"])
    assert pillar.stdout.strip() == "salt:salt"


@pytest.mark.lab
def test_service_states_drive_the_hosts_init_scripts(booted_lab):
    """Hosts that cloud-init configures drive services through ``debian_service`` (the init
    scripts they run), never ``systemd_service`` in "offline" mode (systemd is not PID 1),
    where every service state reports success and does nothing."""
    for host in ("salt", "k8s-worker-0"):
        run = booted_lab.exec(
            host, ["salt-call", "--local", "--out=json", "test.provider", "service"], check=True
        )
        assert json.loads(run.stdout)["local"] == "debian_service", (host, run.stdout)
