"""`terraform apply` of the unchanged root module against a lab cloud backed by lab hosts
(kubesalt.cloud.instances): each instance is a host with its own hostname and its ports' fixed
IPs, booting its user data through Debian's real cloud-init from what Nova gives it; the
cluster then comes up by itself (the master's bootstrap), `terraform plan` sees no change, and
the README's `ssh` through the bastion works from the operator's side of the floating IPs.

One cloud for the module, brought up by `kubesalt cloud demo` (what `make demo` runs) as a user
runs it; the cluster is Ready when it ends; then the master is rebuilt (`terraform apply
-replace`, issue 11 item 11), applied with one more worker (issue 11 defect 3: the rebuilt
master admits it) and one fewer; destroyed last.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import re
import shlex
import subprocess
import sys
import time

import pytest

from kubesalt.cloud import install
from kubesalt.cloud import instances
from kubesalt.cloud import nova
from kubesalt.cloud.demo import CloudHosts
from kubesalt.cloud.store import Store
from kubesalt.cloud.workspace import Workspace
from kubesalt.lab import requirements_problem
from kubesalt.lab.lab import host_command
from kubesalt.tf import engine as tf_engine
from tests.support import lab_policy
from tests.support.lab_safety import assert_nothing_left_after_teardown
from tests.support.lab_safety import machine_snapshot
from tests.support.waiting import wait_until

BOOT_TIMEOUT = 240.0
TARGET = ("k8s-worker-0", "hostname")
DOMAIN = "lab.kubesalt.test"


DEMO_TIMEOUT = 1800.0  # the whole `make demo`, under the load of a parallel `make test`
WORKERS = 1  # DEMO_ARGS="--workers 1": one worker is enough for every test here


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    """The cloud `make demo` brings up: ``kubesalt cloud demo`` (what ``make demo`` runs after
    ``deps venv``) as a user runs it, a process of its own with ``KUBESALT_LAB_DIR`` set; the
    module's other tests then plan, apply and destroy that cloud's Terraform working directory
    (``$KUBESALT_LAB_DIR/terraform``) as an operator would."""
    lab_policy.apply(requirements_problem(), pytest)
    try:
        engine = tf_engine.find_engine()
    except tf_engine.TerraformError as exc:
        pytest.skip(str(exc))
    lab_dir = tmp_path_factory.mktemp("labcloud")
    cloud_dir = lab_dir / "cloud"
    before = machine_snapshot(cloud_dir)  # another lab cloud's daemon and hosts left out
    env = {k: v for k, v in os.environ.items() if k != "KUBESALT_CLOUD_DIR"}
    env["KUBESALT_LAB_DIR"] = str(lab_dir)
    kubesalt = pathlib.Path(sys.executable).with_name("kubesalt")
    started = time.monotonic()
    try:
        demo = subprocess.run(
            [str(kubesalt), "cloud", "demo", "--workers", str(WORKERS)],
            env=env,
            capture_output=True,
            text=True,
            timeout=DEMO_TIMEOUT,
            check=False,
        )
        seconds = time.monotonic() - started
        print(f"kubesalt cloud demo: {seconds:.0f} s (exit {demo.returncode}); its progress:")
        print("\n".join(line for line in demo.stdout.splitlines() if line.startswith("[")))
        yield {
            "dir": cloud_dir,
            "workspace": Workspace(lab_dir / "terraform", cloud_dir, engine),
            "demo": demo,
            "demo_seconds": seconds,
            "before": before,
        }
    finally:
        instances.stop(cloud_dir)
        install.remove(cloud_dir)


def _run(pid: int, argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        host_command(pid, argv), capture_output=True, text=True, timeout=60, check=False
    )


def _hosts(cloud) -> dict[str, int]:
    document = Store(cloud["dir"]).read()
    return {
        server["name"]: instances.host_pid(cloud["dir"], server["name"])
        for server in document["servers"].values()
    }


def test_every_instance_is_a_host_with_its_name_and_fixed_ips(cloud):
    document = Store(cloud["dir"]).read()
    assert document["servers"], cloud["demo"].stdout[-3000:]
    for server in document["servers"].values():
        pid = instances.host_pid(cloud["dir"], server["name"])
        assert pid != os.getpid()
        assert os.readlink(f"/proc/{pid}/ns/net") != os.readlink("/proc/self/ns/net")
        addresses = _run(pid, ["ip", "-4", "-o", "addr"]).stdout
        for port_id in server["ports"]:
            for ip in document["ports"][port_id]["fixed_ips"]:
                assert f" {ip['ip_address']}/" in addresses, (server["name"], addresses)


QUERY = """
import socket, struct, sys
server = sys.argv[1]
for qid, name in enumerate(sys.argv[2:], 1):
    labels = b"".join(bytes([len(x)]) + x.encode() for x in name.split(".")) + b"\\0"
    query = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + labels + struct.pack("!HH", 1, 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(20)
    sock.sendto(query, (server, 53))
    reply = sock.recv(512)
    answers = struct.unpack("!H", reply[6:8])[0]
    address = socket.inet_ntoa(reply[-4:]) if answers else "-"
    print(name, reply[3] & 0xF, address)
"""


def test_instances_names_answer_at_the_subnets_dhcp_port(cloud):
    """Neutron's dnsmasq on the private subnet's DHCP port (the pool's first address): asked
    from an instance, it answers an instance's name with its fixed IP and any other name with
    NXDOMAIN (rcode 3) at once. Salt's core.resolv keeps that resolver (Terraform's
    dns_nameservers reach the pillar through the inventory)."""
    document = Store(cloud["dir"]).read()
    (subnet,) = [s for s in document["subnets"].values() if s["cidr"] == "10.1.0.0/16"]
    assert subnet["dhcp_address"] == subnet["allocation_pools"][0]["start"]
    master = next(s for s in document["servers"].values() if s["name"].startswith("k8s-master"))
    address = instances.node_address(document, master["id"])
    worker = instances.host_pid(cloud["dir"], "k8s-worker-0")
    names = [master["name"], "nothing.example.org"]
    run = _run(worker, ["python3", "-c", QUERY, subnet["dhcp_address"], *names])
    assert run.stdout.splitlines() == [
        f"{master['name']} 0 {address}",
        "nothing.example.org 3 -",
    ], run.stdout + run.stderr


def test_instances_boot_their_user_data_through_cloud_init(cloud):
    """Instances that reach their user data (a routed subnet: bastion, control plane) run the
    bootstrap through cloud-init; Salt is on the image as its packages install it (the user
    ``salt``), so the bootstrap installs nothing. (They then wait for the master, which applies
    once issue 11 defect 1 is fixed.)"""
    document = Store(cloud["dir"]).read()
    booting = {
        s["name"]
        for s in document["servers"].values()
        if nova.user_data_source(document, s["id"]) is not None
    }
    assert booting
    hosts = _hosts(cloud)
    deadline = time.monotonic() + BOOT_TIMEOUT
    pending = set(booting)
    while pending and time.monotonic() < deadline:
        for name in list(pending):
            log = _run(hosts[name], ["cat", "/var/log/cloud-init-output.log"]).stdout
            if "Salt already present" in log:
                pending.discard(name)
        if pending:
            time.sleep(2)
    assert not pending, {
        name: _run(hosts[name], ["tail", "-20", "/var/log/kubesalt-boot.log"]).stdout
        for name in pending
    }
    for name in booting:
        pid = hosts[name]
        assert _run(pid, ["hostname"]).stdout.strip() == name.split(".")[0]
        assert _run(pid, ["id", "-u", "salt"]).returncode == 0
        log = _run(pid, ["cat", "/var/log/cloud-init-output.log"]).stdout
        assert f"kubesalt-bootstrap: bootstrapping {name}" in log
        assert "apt-get install" not in log


def test_make_demo_ends_with_every_node_ready(cloud):
    """`make demo`'s own verdict (exit 0 only when every Kubernetes node is Ready and the
    bootstrap reported no failure) and its summary table, then the nodes asked again."""
    demo = cloud["demo"]
    assert demo.returncode == 0, demo.stdout[-4000:] + demo.stderr[-2000:]
    workers = [s for s in Store(cloud["dir"]).read()["servers"].values() if "k8s-" in s["name"]]
    count = len(workers)
    assert f"done: {count}/{count} Kubernetes nodes Ready (cluster ready)" in demo.stdout
    assert "terraform apply -var-file=lab.tfvars.json" in demo.stdout
    control_plane = instances.host_pid(cloud["dir"], "k8s-master")
    run = _run(control_plane, ["salt-call", "--local", "--out=json", "microk8s.nodes"])
    nodes = json.loads(run.stdout or "{}").get("local")
    assert isinstance(nodes, list), run.stdout + run.stderr
    assert sorted(n["name"] for n in nodes if n.get("ready")) == sorted(
        s["name"].split(".")[0] for s in workers
    )
    # Converged by Salt (core.resolv), every node still asks the subnet's DHCP port (Terraform's
    # dns_nameservers through the inventory), not the `lab up` lab's 10.1.0.2.
    (subnet,) = [
        s for s in Store(cloud["dir"]).read()["subnets"].values() if s["cidr"] == "10.1.0.0/16"
    ]
    for server in workers:
        resolv = _run(instances.host_pid(cloud["dir"], server["name"]), ["cat", "/etc/resolv.conf"])
        assert resolv.stdout.startswith("# Managed by Salt"), (server["name"], resolv.stdout)
        servers = [
            line.split()[1] for line in resolv.stdout.splitlines() if line.startswith("nameserver")
        ]
        assert servers == [subnet["dhcp_address"]], (server["name"], resolv.stdout)


def test_plan_after_apply_shows_no_changes(cloud):
    result = cloud["workspace"].plan("-detailed-exitcode")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def _plan_counts(text: str) -> tuple[int, int, int]:
    found = re.search(r"Plan: (\d+) to add, (\d+) to change, (\d+) to destroy", text)
    assert found, text[-2000:]
    return tuple(int(n) for n in found.groups())


def test_plan_with_one_more_worker_only_adds_it(cloud):
    result = cloud["workspace"].plan("-var", "num_kube_nodes=2")
    add, change, destroy = _plan_counts(result.stdout)
    assert (change, destroy) == (0, 0) and add > 0, result.stdout[-3000:]


def test_ssh_through_the_bastion_as_the_readme_says(cloud, tmp_path):
    """`terraform output -raw ssh_config`, then `ssh` to a node: ProxyJump through the
    bastion's floating IP, real sshd, the deploy user's key; from the operator's address."""
    output = cloud["workspace"].run("output", "-raw", "ssh_config")
    assert output.returncode == 0, output.stderr
    key = cloud["dir"] / "ssh" / "id_ed25519"
    config = tmp_path / "ssh_config"
    config.write_text(
        output.stdout + f"\nHost *\n  IdentityFile {key}\n  StrictHostKeyChecking no\n"
        "  UserKnownHostsFile /dev/null\n  BatchMode yes\n  ConnectTimeout 20\n"
    )
    operator = instances.operator_pid(cloud["dir"])
    run = subprocess.run(
        ["nsenter", "-t", str(operator), "-n", "--", "ssh", "-F", str(config), *TARGET],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0 and run.stdout.strip() == "k8s-worker-0", run.stderr[-2000:]


ADMIT_TIMEOUT = 600.0


def _wait_for_log(cloud, name, text, timeout):
    deadline = time.monotonic() + timeout
    log = ""
    while time.monotonic() < deadline:
        log = _run(
            instances.host_pid(cloud["dir"], name), ["cat", "/var/log/cloud-init-output.log"]
        )
        if text in log.stdout:
            return
        time.sleep(3)
    raise AssertionError(f"{name}: no {text!r} in {timeout:.0f}s:\n{log.stdout[-2500:]}")


def _wait_for_nodes(cloud, wanted: set[str], timeout: float) -> None:
    """Until the cluster's nodes are exactly ``wanted``, all Ready."""

    def done():
        nodes = CloudHosts(cloud["dir"]).nodes()
        return set(nodes) == wanted and all(n.get("ready") for n in nodes.values())

    wait_until(done, timeout, f"nodes {sorted(wanted)}, all Ready", interval=5)


def test_the_first_control_plane_uses_its_private_address(cloud):
    """Issue 11 defect 9 end to end: k8s-master has two interfaces and its default route is
    the public one; the MicroK8s simulator (told no address, as the snap is not) would take
    the public address; Salt pins the node's address (kubelet --node-ip, Calico) to the private
    network, so the node's InternalIP is its private address."""
    document = Store(cloud["dir"]).read()
    server = next(s for s in document["servers"].values() if s["name"].startswith("k8s-master"))
    addresses = {
        document["networks"][document["ports"][p]["network_id"]]["name"]: ip["ip_address"]
        for p in server["ports"]
        for ip in document["ports"][p]["fixed_ips"]
    }
    private = next(a for name, a in addresses.items() if name.endswith("-private"))
    pid = instances.host_pid(cloud["dir"], "k8s-master")
    device = _run(pid, ["ip", "-4", "route", "show", "default"]).stdout.split(" dev ")[1].split()[0]
    default_route = _run(pid, ["ip", "-4", "-o", "addr", "show", "dev", device]).stdout
    assert len(addresses) == 2 and private not in default_route, (addresses, default_route)
    assert CloudHosts(cloud["dir"]).nodes()["k8s-master"]["address"] == private, addresses


REBUILD_TIMEOUT = 900.0
MASTER = f"salt.{DOMAIN}"
MASTER_INSTANCE = "openstack_compute_instance_v2.salt_master"
JOIN_SECRET = "/srv/pki/master/kubesalt/join.secret"
HOST_KEY = "/etc/ssh/ssh_host_ed25519_key.pub"


def _salt_json(pid: int, argv: list[str], timeout: float = 180.0):
    """``argv`` (a ``salt``/``salt-run``/``salt-key`` command with ``--out=json``) run on the
    master's host: its JSON answer, or None when it did not answer JSON."""
    run = subprocess.run(
        host_command(pid, argv), capture_output=True, text=True, timeout=timeout, check=False
    )
    try:
        return json.loads(run.stdout)
    except ValueError:
        return None


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def _what_survives_a_rebuild(cloud) -> dict:
    """What the master's volume must carry through a rebuild, read on the master as it is
    now. Secrets only as digests (the join secret, the nodes' join tokens): never printed."""
    pid = instances.host_pid(cloud["dir"], MASTER)
    secret = _run(pid, ["sha256sum", JOIN_SECRET])
    tokens = {}
    if secret.returncode == 0:  # else compiling a pillar as root would create it, root's
        for name in _hosts(cloud):
            if name.startswith("k8s-"):  # compiled by the master itself, not a minion's copy
                pillar = _salt_json(pid, ["salt-run", "--out=json", "pillar.show_pillar", name])
                tokens[name] = ((pillar or {}).get("kubesalt") or {}).get("microk8s")
    bootstrap = _salt_json(pid, ["salt-run", "--out=json", "cluster_bootstrap.status"]) or {}
    keys = _salt_json(pid, ["salt-key", "--out=json", "-l", "acc"]) or {}
    return {
        "join secret sha256": secret.stdout.split()[0] if secret.returncode == 0 else None,
        "join tokens sha256": _digest(tokens) if tokens and all(tokens.values()) else None,
        "bootstrap record": bootstrap.get("last_run"),
        "accepted keys": sorted(keys.get("minions", [])),
        "ssh host key": _run(pid, ["ssh-keygen", "-l", "-f", HOST_KEY]).stdout.split()[1:2],
    }


@pytest.mark.timeout(REBUILD_TIMEOUT * 2 + 600)
def test_rebuilding_the_master_keeps_its_minions_tokens_and_record(cloud, tmp_path_factory):
    """Issue 11 item 11, as an operator rebuilds the master: ``terraform apply
    -replace=openstack_compute_instance_v2.salt_master``. The plan replaces that instance and
    nothing else; the new master (same port, same volume on /srv, same keys from the state)
    answers every minion (``salt '*' test.ping`` through it, bounded wait), the join secret and
    every node's join tokens are byte-identical (compared as digests), the bootstrap runner's
    record, the accepted keys and the master's SSH host key are the ones from before (the
    operator's strict ``ssh salt``, whose known_hosts was learnt before the rebuild, still
    logs in), and the cluster stays Ready. The next test then adds a worker to the rebuilt
    master: a node added after the rebuild still joins (the same admission secret).

    Needs lab-cloud volumes that are block devices kept across the replacement (issue 10):
    without them the new master's /srv is a fresh disk and this test fails (the join secret,
    the record and the host key are new), so it is an expected failure, not run, while the
    master has no such device."""
    workspace = cloud["workspace"]
    hosts = CloudHosts(cloud["dir"])
    if not hosts.has_volume_disk(MASTER):
        # Run without them (15:38 UTC): every minion answered the new master, the join
        # secret, the bootstrap record and the SSH host key were new. Not run then: the
        # following tests would meet that master.
        pytest.xfail("the master has no volume as a block device (lab-cloud volumes, issue 10)")
    _wait_for_log(cloud, f"k8s-worker-0.{DOMAIN}", "the salt master admitted", ADMIT_TIMEOUT)
    ssh = workspace.operator_ssh(tmp_path_factory.mktemp("operator-rebuild"))
    before = _what_survives_a_rebuild(cloud)
    assert all(before.values()) and before["bootstrap record"].get("result") == "done", before
    servers = {s["name"]: s["id"] for s in Store(cloud["dir"]).read()["servers"].values()}

    plan = workspace.plan(f"-replace={MASTER_INSTANCE}")
    assert _plan_counts(plan.stdout) == (1, 0, 1), plan.stdout[-3000:]
    replaced = re.findall(r"# (\S+) (?:will|must) be replaced", plan.stdout)
    assert replaced == [MASTER_INSTANCE], plan.stdout[-3000:]

    load = open("/proc/loadavg").read().strip()
    started = time.monotonic()
    result = workspace.apply(f"-replace={MASTER_INSTANCE}")
    assert result.returncode == 0, workspace.redacted(result)[-3000:]
    assert "Resources: 1 added, 0 changed, 1 destroyed." in result.stdout, result.stdout[-3000:]
    after = {s["name"]: s["id"] for s in Store(cloud["dir"]).read()["servers"].values()}
    assert set(after) == set(servers) and after[MASTER] != servers[MASTER]
    assert {n: i for n, i in after.items() if n != MASTER} == {
        n: i for n, i in servers.items() if n != MASTER
    }  # nobody else replaced

    seen: dict = {}

    def every_minion_answers():
        seen["answering"] = hosts.answering(MASTER)  # the new instance's host
        return seen["answering"] == set(servers)

    wait_until(
        every_minion_answers,
        REBUILD_TIMEOUT,
        lambda: f"every minion answering the new master; answering: {seen.get('answering')}",
        interval=10,
    )
    answered = time.monotonic() - started
    assert _what_survives_a_rebuild(cloud) == before
    # What a removal runs (terraform/membership.tf): the operator's strict ssh, through the
    # bastion's floating IP to the master's address.
    outputs = json.loads(workspace.run("output", "-json").stdout)
    user = re.search(r"^\s*User (\S+)", workspace.run("output", "-raw", "ssh_config").stdout, re.M)
    jump = f"{user[1]}@{outputs['bastion_address']['value']}"
    target = f"{user[1]}@{outputs['salt_master_address']['value']}"
    login = subprocess.run(
        [*shlex.split(ssh), "-o", "BatchMode=yes", "-J", jump, target, "true"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert login.returncode == 0, login.stderr[-2000:]  # known_hosts from before the rebuild
    _wait_for_nodes(cloud, {"k8s-master", "k8s-worker-0"}, ADMIT_TIMEOUT)
    print(
        f"terraform apply -replace={MASTER_INSTANCE}: every minion answers at {answered:.0f} s, "
        f"cluster Ready at {time.monotonic() - started:.0f} s "
        f"(load before {load}, after {open('/proc/loadavg').read().strip()})"
    )


@pytest.mark.timeout(ADMIT_TIMEOUT * 2 + 300)
def test_one_more_worker_is_admitted_by_the_running_master(cloud):
    """Issue 11 defect 3 in the lab cloud: `terraform apply` with num_kube_nodes + 1 creates
    one instance and touches no other; the running master (whose user-data never listed the
    new worker) admits its key through the admission step, lists it in its inventory, and the
    node becomes Ready with no manual step. It runs after the master rebuild above: the master
    that admits the node is the rebuilt one (a node added after a rebuild still joins)."""
    first = f"k8s-worker-0.{DOMAIN}"
    _wait_for_log(cloud, first, f"the salt master admitted {first}", ADMIT_TIMEOUT)
    before = {s["name"]: s["id"] for s in Store(cloud["dir"]).read()["servers"].values()}
    started = time.monotonic()
    result = cloud["workspace"].apply("-var=num_kube_nodes=2")
    applied = time.monotonic() - started
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Apply complete! Resources: 4 added, 0 changed, 0 destroyed." in result.stdout
    after = {s["name"]: s["id"] for s in Store(cloud["dir"]).read()["servers"].values()}
    new = f"k8s-worker-1.{DOMAIN}"
    assert {name: after.get(name) for name in before} == before  # nobody replaced
    assert set(after) - set(before) == {new}
    _wait_for_log(cloud, new, f"the salt master admitted {new}", ADMIT_TIMEOUT)
    admitted = time.monotonic() - started
    master = instances.host_pid(cloud["dir"], f"salt.{DOMAIN}")
    accepted = _run(master, ["salt-key", "--out=json", "-l", "acc"]).stdout
    assert new in accepted, accepted
    inventory = _run(master, ["cat", "/srv/pillar/_from_terraform.sls"]).stdout
    assert new in inventory, inventory
    _wait_for_nodes(cloud, {"k8s-master", "k8s-worker-0", "k8s-worker-1"}, ADMIT_TIMEOUT)
    print(
        f"terraform apply (+1 worker): apply {applied:.0f} s, admitted {admitted:.0f} s, "
        f"Ready {time.monotonic() - started:.0f} s (load {open('/proc/loadavg').read().strip()})"
    )


@pytest.mark.timeout(ADMIT_TIMEOUT + 600)
def test_one_worker_fewer_leaves_the_cluster_and_the_masters_keys_and_inventory(
    cloud, tmp_path_factory
):
    """Issue 11 defect 3, -1 with no manual step: `terraform apply` with one worker fewer
    deletes that instance only, then its terraform_data's destroy-time provisioner runs the
    removal on the master over the operator's ssh through the bastion (host keys checked):
    no key, no inventory entry, and the control plane removes the Kubernetes node."""
    cloud["workspace"].operator_ssh(tmp_path_factory.mktemp("operator"))
    master = instances.host_pid(cloud["dir"], f"salt.{DOMAIN}")
    gone = f"k8s-worker-1.{DOMAIN}"
    before = {s["name"]: s["id"] for s in Store(cloud["dir"]).read()["servers"].values()}
    started = time.monotonic()
    result = cloud["workspace"].apply("-var=num_kube_nodes=1")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Resources: 0 added, 0 changed, 4 destroyed." in result.stdout, result.stdout[-3000:]
    assert f'"minion_id": "{gone}"' in result.stdout, result.stdout[-3000:]
    after = {s["name"]: s["id"] for s in Store(cloud["dir"]).read()["servers"].values()}
    assert set(before) - set(after) == {gone}
    assert {name: before[name] for name in after} == after  # nobody replaced
    assert gone not in _run(master, ["salt-key", "--out=json", "-l", "all"]).stdout
    inventory = _run(master, ["cat", "/srv/pillar/_from_terraform.sls"])
    assert inventory.returncode == 0 and gone not in inventory.stdout
    owner = _run(master, ["stat", "-c", "%U", "/srv/pillar/_from_terraform.sls"]).stdout.strip()
    assert owner == "salt"  # the master still reads what root's salt-run rewrote
    _wait_for_nodes(cloud, {"k8s-master", "k8s-worker-0"}, ADMIT_TIMEOUT)
    print(f"terraform apply (-1 worker) to the node gone: {time.monotonic() - started:.0f} s")


def test_destroy_leaves_nothing(cloud):
    pids = list(_hosts(cloud).values())
    result = cloud["workspace"].destroy()
    assert result.returncode == 0, result.stderr[-3000:]
    document = Store(cloud["dir"]).read()
    assert not document["servers"] and not document["ports"]
    deadline = time.monotonic() + 10
    while any(os.path.exists(f"/proc/{pid}") for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(os.path.exists(f"/proc/{pid}") for pid in pids)
    instances.stop(cloud["dir"])
    assert_nothing_left_after_teardown(cloud["before"], cloud["dir"])
