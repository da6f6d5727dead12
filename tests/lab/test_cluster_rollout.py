"""The whole state tree in the lab: salt, bastion, one control plane and two workers.

One lab for the module (about a minute to come up, a minute per orchestration on a busy
machine). In order: ``test=True`` on the fresh lab, the orchestration, then checks of the
converged hosts, a second run, and scaling the workers down and up again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import types

import pytest

from tests.support.lab_network import peer_seen_by_outside
from tests.support.lab_salt import DOMAIN
from tests.support.lab_salt import MASTER
from tests.support.lab_salt import SALT_TIMEOUT
from tests.support.lab_salt import WORKERS
from tests.support.lab_salt import changed_states
from tests.support.lab_salt import cluster_nodes
from tests.support.lab_salt import failed_states
from tests.support.lab_salt import inventory
from tests.support.lab_salt import orchestrate
from tests.support.lab_salt import salt_json
from tests.support.lab_salt import write_inventory

HOSTS = ["salt", "bastion", "k8s-master", "k8s-worker-0", "k8s-worker-1"]
# Files the state tree manages on every host: test=True must leave them as they are.
WATCHED = [
    "/etc/ssh/sshd_config",
    "/etc/motd",
    "/etc/issue",
    "/etc/issue.net",
    "/etc/default/locale",
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/sysctl.d/90-kubesalt.conf",
    "/etc/security/limits.d/90-kubesalt.conf",
    "/etc/iptables/rules.v4",
    "/etc/salt/master.d/kubesalt.conf",
]


def highstate(lab, *extra):
    # -t: the salt command waits that long for returns before it probes for running jobs;
    # on a loaded machine (Salt 3008) the probes' answers come late and it gives up on a
    # highstate still running ("No return received").
    return salt_json(
        lab,
        ["salt", "--out=json", "--static", "-t", str(SALT_TIMEOUT), "*", "state.highstate", *extra],
    )


def checksums(lab):
    """What a run could change: managed files on every host, the bastion's live rules."""
    found = {}
    for host in HOSTS:
        run = lab.exec(host, ["sh", "-c", f"md5sum {' '.join(WATCHED)} 2>/dev/null; true"])
        found[host] = run.stdout
    found["bastion rules"] = lab.exec(
        "bastion", ["sh", "-c", "iptables -S; iptables -t nat -S"], check=True
    ).stdout
    return found


@pytest.fixture(scope="module")
def cluster(cluster_lab):
    """The shared lab (tests/lab/conftest.py SHARED), which no state has touched yet."""
    lab = cluster_lab
    salt_json(lab, ["salt", "--out=json", "--static", "*", "saltutil.sync_all"])
    before = checksums(lab)
    dry_run = highstate(lab, "test=True")
    after = checksums(lab)
    first = orchestrate(lab)
    return types.SimpleNamespace(lab=lab, before=before, after=after, dry_run=dry_run, first=first)


@pytest.mark.lab
def test_test_mode_on_a_fresh_lab_changes_nothing(cluster):
    assert cluster.after == cluster.before
    # It did look: it announced, on every minion, the changes a real run then made.
    assert all(changed_states(cluster.dry_run).values())
    assert "-P INPUT DROP" not in cluster.before["bastion rules"]


@pytest.mark.lab
def test_orchestration_forms_a_ready_cluster(cluster):
    failed = {step: s["comment"] for step, s in cluster.first.steps.items() if not s["result"]}
    assert not failed
    nodes = cluster_nodes(cluster.lab)
    assert set(nodes) == {"k8s-master", "k8s-worker-0", "k8s-worker-1"}
    assert all(node["ready"] for node in nodes.values())


@pytest.mark.lab
def test_second_run_changes_nothing(cluster):
    run = highstate(cluster.lab)
    assert set(run) == {f"{host}.{DOMAIN}" for host in HOSTS}
    assert not failed_states(run)
    assert changed_states(run) == {minion: [] for minion in run}


@pytest.mark.lab
@pytest.mark.parametrize("host", HOSTS)
def test_sshd_config_passes_sshd_t(cluster, host):
    check = cluster.lab.exec(host, ["/usr/sbin/sshd", "-t"])
    assert check.returncode == 0, check.stderr
    config = cluster.lab.exec(host, ["cat", "/etc/ssh/sshd_config"], check=True).stdout
    assert "PermitRootLogin no\n" in config and "PasswordAuthentication no\n" in config


@pytest.mark.lab
@pytest.mark.parametrize("host", HOSTS)
def test_hosts_file_lists_every_host(cluster, host):
    lines = cluster.lab.exec(host, ["cat", "/etc/hosts"], check=True).stdout.splitlines()
    entries = {line.split()[0]: line.split()[1:] for line in lines if line.strip()}
    for node_id, node in inventory(cluster.lab)["kubesalt"]["nodes"].items():
        assert entries.get(node["private_ip"]) == [node_id, node_id.partition(".")[0]]


@pytest.mark.lab
def test_bastion_input_policy_drops_all_but_ssh(cluster):
    lab = cluster.lab
    rules = lab.exec("bastion", ["iptables", "-S", "INPUT"], check=True).stdout
    assert "-P INPUT DROP" in rules
    assert "--dport 22" in rules
    listener = lab.spawn(
        "bastion",
        [
            "python3",
            "-c",
            "import socket,time;s=socket.create_server(('10.0.0.10',8080));time.sleep(30)",
        ],
    )
    try:
        time.sleep(1)
        probe = (
            "import socket,sys\n"
            "try:\n"
            "    socket.create_connection(('10.0.0.10', int(sys.argv[1])), timeout=2)\n"
            "except OSError:\n"
            "    sys.exit(1)\n"
        )
        assert lab.exec("outside", ["python3", "-c", probe, "22"]).returncode == 0
        assert lab.exec("outside", ["python3", "-c", probe, "8080"]).returncode == 1
    finally:
        listener.kill()
        listener.wait(timeout=10)
    jail = lab.exec("bastion", ["fail2ban-client", "status", "sshd"])
    assert jail.returncode == 0, jail.stderr


@pytest.mark.lab
def test_worker_reaches_the_outside_only_through_the_bastion_nat(cluster):
    lab = cluster.lab
    assert peer_seen_by_outside(lab, "k8s-worker-0") == "10.0.0.10"
    lab.exec("bastion", ["iptables", "-t", "nat", "-F", "POSTROUTING"], check=True)
    assert peer_seen_by_outside(lab, "k8s-worker-0", timeout=2) is None
    # The state repairs the drift (the rules file did not change).
    run = salt_json(
        lab, ["salt", "--out=json", "--static", f"bastion.{DOMAIN}", "state.sls", "bastion"]
    )
    assert "bastion-iptables-live" in changed_states(run)[f"bastion.{DOMAIN}"]
    assert peer_seen_by_outside(lab, "k8s-worker-1") == "10.0.0.10"


@pytest.mark.lab
def test_scale_down_then_up_again(cluster):
    lab = cluster.lab
    original = inventory(lab)
    smaller = json.loads(json.dumps(original))
    smaller["kubesalt"]["microk8s"]["workers"].remove(WORKERS[1])
    del smaller["kubesalt"]["nodes"][WORKERS[1]]
    write_inventory(lab, smaller)
    try:
        down = orchestrate(lab)
        assert all(step["result"] for step in down.steps.values()), down.steps
        assert f"cluster-leave-{WORKERS[1]}" in down.steps
        assert set(cluster_nodes(lab)) == {"k8s-master", "k8s-worker-0"}
    finally:
        write_inventory(lab, original)
    up = orchestrate(lab)
    assert all(step["result"] for step in up.steps.values()), up.steps
    assert set(cluster_nodes(lab)) == {"k8s-master", "k8s-worker-0", "k8s-worker-1"}
    # Only the returning worker joined; the others had nothing to do (a minion without
    # changes is left out of the step's changes).
    workers_step = up.steps["cluster-workers"]["changes"]["ret"]
    assert set(workers_step) == {WORKERS[1]}
    assert [s["__id__"] for s in workers_step[WORKERS[1]].values() if s.get("changes")] == [
        "microk8s-joined-cluster"
    ]


@pytest.mark.lab
def test_mine_join_data_readable_by_cluster_members_only(cluster):
    lab = cluster.lab
    askers = ",".join([f"bastion.{DOMAIN}", f"salt.{DOMAIN}", WORKERS[0]])
    seen = salt_json(
        lab,
        ["salt", "--out=json", "--static", "-L", askers, "mine.get", MASTER, "microk8s_join_info"],
    )
    assert seen[f"bastion.{DOMAIN}"] == seen[f"salt.{DOMAIN}"] == {}
    info = seen[WORKERS[0]][MASTER]
    assert info["address"] == "10.1.0.10:25000"
    assert len(info["fingerprint"]) >= 12
    # Private addresses: every inventory node may read them (for /etc/hosts).
    addresses = salt_json(
        lab,
        [
            "salt",
            "--out=json",
            "--static",
            f"bastion.{DOMAIN}",
            "mine.get",
            "*",
            "kubesalt_private_ip",
        ],
    )
    assert addresses[f"bastion.{DOMAIN}"][MASTER] == ["10.1.0.10"]


@pytest.mark.lab
def test_no_join_token_in_job_returns_or_logs(cluster):
    lab = cluster.lab
    # Computed here from the master's secret: asking Salt for them would put them in a job.
    secret_file = "/etc/salt/pki/master/kubesalt/join.secret"
    secret = lab.exec("salt", ["cat", secret_file], check=True).stdout
    # Created by the master itself (pillar/cluster.sls): 0600, owned by the user the master
    # runs as, i.e. the owner of its pki directory.
    modes = lab.exec(
        "salt", ["stat", "-c", "%a %U", secret_file, "/etc/salt/pki/master"], check=True
    ).stdout.split("\n")
    # The lab runs the master as the packages do: that user is salt, not root.
    assert modes[0].split() == ["600", modes[1].split()[1]] == ["600", "salt"]
    tokens = [
        hmac.new(secret.strip().encode(), node.encode(), hashlib.sha256).hexdigest()[:32]
        for node in [MASTER, *WORKERS]
    ]
    for host in HOSTS:
        for token in tokens:
            # Job returns (master) and every log; grep -r reads the binary job cache too.
            jobs = "/var/cache/salt/master/jobs"
            found = lab.exec(
                host,
                ["sh", "-c", f'p=/var/log; [ -d {jobs} ] && p="$p {jobs}"; grep -rlF {token} $p'],
            )
            assert found.returncode == 1, f"{host}: a join token in {found.stdout.split()}"
