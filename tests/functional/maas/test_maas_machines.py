"""Machines in the simulated MAAS 3.4 region, driven by Canonical's python-libmaas.

Enlist (power type ``manual``) -> Commissioning -> Ready; tags and pools; allocate by
hostname, tags and pool; deploy with a distro series and user-data; release; MAAS's 409s for
impossible transitions; events; the deploy-fails and machine-never-reports faults.
"""

import base64
import json
import subprocess
import time

import pytest
from maas.client.bones import CallError
from maas.client.enum import NodeStatus
from maas.client.viscera.machines import FailedDeployment
from maas.client.viscera.machines import MachineNotFound

from tests.support.libmaas import wait_for_images
from tests.support.waiting import wait_until

MAAS_VERSION = "3.4"
pytestmark = pytest.mark.timeout(180)
USER_DATA = b"#cloud-config\nhostname: worker-a\n"
ENLIST_CLI_ARGS = ["mac_addresses=52:54:00:00:00:20", "power_type=manual", "hostname=node-cli"]


def _wait(client, system_id, statuses, timeout=30):
    def reached():
        machine = client.machines.get(system_id)
        return machine if machine.status in statuses else None

    return wait_until(reached, timeout, f"{system_id} to reach status {sorted(statuses)}")


@pytest.fixture(scope="module")
def client(libmaas_client):
    wait_for_images(libmaas_client)  # machines need complete images (architectures, series)
    return libmaas_client


def _enlist(client, hostname, mac):
    return client.machines.create("amd64/generic", [mac], "manual", hostname=hostname)


def test_enlist_commissions_to_ready_with_events(client):
    machine = _enlist(client, "node-a", "52:54:00:00:00:0a")
    assert machine.status == NodeStatus.COMMISSIONING  # an admin's machine commissions at once
    assert machine.status_name == "Commissioning" and machine.architecture == "amd64/generic"
    ready = _wait(client, machine.system_id, {NodeStatus.READY})
    assert ready.cpus > 0 and ready.memory > 0
    events = client.events.query(hostnames=["node-a"])
    descriptions = [e.description for e in events]
    assert "From 'New' to 'Commissioning'" in descriptions
    assert "From 'Commissioning' to 'Ready'" in descriptions


def test_enlist_errors_name_the_field(client):
    with pytest.raises(CallError) as err:
        client.machines.create("sparc/generic", ["52:54:00:00:00:0b"], "manual")
    assert err.value.status == 400 and "architecture" in json.loads(err.value.content)
    with pytest.raises(CallError) as err:
        _enlist(client, "node-dup", "52:54:00:00:00:0a")  # node-a's MAC
    assert "mac_addresses" in json.loads(err.value.content)


def test_allocate_by_hostname_tags_and_pool_then_deploy_and_release(client):
    machine = _wait(client, _enlist(client, "node-b", "52:54:00:00:00:0c").system_id, {4})
    tag = client.tags.create("k8s-worker")
    machine.tags.add(tag)
    origin = client._origin
    origin.ResourcePools.create("lab")
    session = origin.session
    session.Machine.update(system_id=machine.system_id, pool="lab")

    # python-libmaas 0.6.8's allocate() has no pool argument: its handler takes it as MAAS does.
    with pytest.raises(CallError) as err:
        session.Machines.allocate(tags=["k8s-worker"], pool="default")
    assert err.value.status == 409
    assert err.value.content.decode().startswith("No available machine matches constraints:")
    by_pool = session.Machines.allocate(tags=["k8s-worker"], pool="lab", dry_run=True)
    assert by_pool["system_id"] == machine.system_id and by_pool["status"] == 4
    allocated = client.machines.allocate(hostname="node-b", tags=["k8s-worker"])
    assert allocated.system_id == machine.system_id
    assert allocated.status == NodeStatus.ALLOCATED and allocated.owner_data == {}
    with pytest.raises(MachineNotFound):
        client.machines.allocate(hostname="node-b")  # taken

    deploying = allocated.deploy(distro_series="jammy", user_data=USER_DATA)
    assert deploying.status == NodeStatus.DEPLOYING
    deployed = _wait(client, machine.system_id, {NodeStatus.DEPLOYED})
    assert (deployed.osystem, deployed.distro_series) == ("ubuntu", "jammy")

    with pytest.raises(CallError) as err:
        deployed.deploy()
    assert err.value.status == 409
    assert err.value.content.decode() == "Can't deploy a machine that is in the 'Deployed' state"

    released = deployed.release()
    assert released.status == NodeStatus.RELEASING
    ready = _wait(client, machine.system_id, {NodeStatus.READY})
    assert ready.distro_series == "" and ready.status_name == "Ready"
    again = ready.release()  # MAAS: releasing a Ready machine is a success, not an error
    assert again.status == NodeStatus.READY


def test_deployment_is_recorded_for_the_power_driver(client, initialised_region):
    machine = _wait(client, _enlist(client, "node-c", "52:54:00:00:00:0d").system_id, {4})
    encoded = base64.b64encode(USER_DATA).decode()
    machine.deploy(user_data=encoded, distro_series="ubuntu/jammy")  # str: already base64
    record = initialised_region.region.sim_dir / "deployments" / f"{machine.system_id}.json"
    data = json.loads(record.read_text())
    assert data["hostname"] == "node-c" and data["user_data"] == USER_DATA.decode()
    assert data["mac_addresses"] == ["52:54:00:00:00:0d"] and data["power_type"] == "manual"
    assert oct(record.stat().st_mode & 0o777) == "0o600"
    assert data["status"] == "Deploying"
    deployed = _wait(client, machine.system_id, {NodeStatus.DEPLOYED})
    # The power driver boots a machine once MAAS has deployed it, and each deployment once.
    after = json.loads(record.read_text())
    assert after["status"] == "Deployed" and after["deployment"] == data["deployment"]
    assert oct(record.stat().st_mode & 0o777) == "0o600"
    deployed.release()
    assert not record.exists()


def test_impossible_transitions_answer_409_with_maas_texts(client):
    machine = _wait(client, _enlist(client, "node-d", "52:54:00:00:00:0e").system_id, {4})
    with pytest.raises(CallError) as err:
        machine.abort()
    assert err.value.status == 409
    assert "Cannot abort in current state: 'Ready'" in err.value.content.decode()
    with pytest.raises(CallError) as err:
        machine.deploy(distro_series="warty")
    assert err.value.status == 400 and "distro_series" in json.loads(err.value.content)
    machine.mark_broken(comment="disk")
    broken = client.machines.get(machine.system_id)
    assert broken.status == NodeStatus.BROKEN and broken.status_message == "disk"
    with pytest.raises(CallError) as err:
        broken.deploy()
    assert err.value.content.decode() == "Can't deploy a machine that is in the 'Broken' state"
    ready = broken.mark_fixed()
    assert ready.status == NodeStatus.READY
    with pytest.raises(CallError) as err:
        ready.mark_fixed()
    assert err.value.status == 409 and "('Ready')" in err.value.content.decode()


def test_deploy_fails_fault(client, initialised_region):
    machine = _wait(client, _enlist(client, "node-e", "52:54:00:00:00:0f").system_id, {4})
    initialised_region.region.set_faults(deploy_fails=True)
    try:
        with pytest.raises(FailedDeployment):
            machine.deploy(wait=True, wait_interval=0.1)
    finally:
        initialised_region.region.set_faults(deploy_fails=None)
    failed = client.machines.get(machine.system_id)
    assert failed.status == NodeStatus.FAILED_DEPLOYMENT and failed.status_name == (
        "Failed deployment"
    )
    # Nothing for a power driver to boot.
    record = initialised_region.region.sim_dir / "deployments" / f"{machine.system_id}.json"
    assert json.loads(record.read_text())["status"] == "Failed deployment"
    failed.release()
    _wait(client, machine.system_id, {NodeStatus.READY})


def test_machine_that_never_reports_times_out(client, initialised_region):
    machine = _wait(client, _enlist(client, "node-f", "52:54:00:00:00:10").system_id, {4})
    initialised_region.region.set_faults(machine_silent=True, node_timeout=1.2)
    try:
        machine.deploy()
        time.sleep(0.8)
        assert client.machines.get(machine.system_id).status == NodeStatus.DEPLOYING
        failed = _wait(client, machine.system_id, {NodeStatus.FAILED_DEPLOYMENT})
    finally:
        initialised_region.region.set_faults(machine_silent=None, node_timeout=None)
    assert failed.status_message == "Node operation 'Deploying' timed out after 0.02 minutes."


def test_unknown_machine_is_404(client):
    with pytest.raises(CallError) as err:
        client.machines.get("nosuch").commission()
    assert err.value.status == 404


def test_the_maas_cli_enlists_and_reads_machines(client, initialised_region):
    """``maas PROFILE machines create ...`` as docs/maas.md tells an operator to run it."""
    cli = initialised_region.cli()
    key = str(client.account.create_credentials())
    login = subprocess.run(
        [cli, "login", "ops", initialised_region.maas_url, "-"],
        input=key + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert login.returncode == 0, login.stderr
    created = subprocess.run(
        [cli, "ops", "machines", "create", "architecture=amd64/generic", *ENLIST_CLI_ARGS],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert created.returncode == 0, created.stdout + created.stderr
    system_id = json.loads(created.stdout)["system_id"]
    _wait(client, system_id, {NodeStatus.READY})
    read = subprocess.run(
        [cli, "ops", "machine", "read", system_id],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert json.loads(read.stdout)["status_name"] == "Ready"
    bad = subprocess.run(
        [cli, "ops", "machine", "abort", system_id],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2 and "Cannot abort in current state: 'Ready'" in bad.stdout
