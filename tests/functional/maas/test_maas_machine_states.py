"""maas machine functions and states, through Salt's loader, against the simulated region.

Machines are enlisted with python-libmaas (as hardware or an operator would); Salt lists,
allocates, deploys (user-data never shown) and releases them; each state in test mode, for
real, and again without changes; faults end with MAAS's status and message.
"""

import json
import pathlib

import pytest
import yaml
from salt.exceptions import CommandExecutionError
from salt.exceptions import SaltInvocationError

from tests.support.libmaas import wait_for_images
from tests.support.waiting import wait_until

MAAS_VERSION = "3.4"
pytestmark = pytest.mark.timeout(240)
PRIVATE_MARK = "-----BEGIN PRIVATE KEY----- not-a-real-key-but-secret"
USER_DATA = f"#cloud-config\nwrite_files:\n  - path: /etc/salt/pki/minion/minion.pem\n    content: '{PRIVATE_MARK}'\n"  # noqa: E501


@pytest.fixture(scope="module")
def enlisted(initialised_region, libmaas_client):
    """Two Ready machines, one tagged ``k8s-worker``."""
    wait_for_images(libmaas_client, 90)  # enlisting needs complete images (architectures)
    made = [
        libmaas_client.machines.create(
            "amd64/generic", [f"52:54:00:00:01:0{i}"], "manual", hostname=name
        )
        for i, name in enumerate(("fun-cat", "keen-owl"))
    ]
    tag = libmaas_client.tags.create("k8s-worker")
    made[1].tags.add(tag)
    wait_until(
        lambda: all(libmaas_client.machines.get(m.system_id).status_name == "Ready" for m in made),
        30,
        "both machines Ready",
    )
    return {m.hostname: m.system_id for m in made}


def test_list_and_status(modules, enlisted):
    names = sorted(m["hostname"] for m in modules.maas.machines())
    assert names == ["fun-cat", "keen-owl"]
    status = modules.maas.machine_status("keen-owl.maas")  # by FQDN
    assert status["system_id"] == enlisted["keen-owl"] and status["status_name"] == "Ready"
    assert status["tag_names"] == ["k8s-worker"] and status["pool"] == "default"
    assert modules.maas.machine("nosuch") is None
    with pytest.raises(CommandExecutionError, match="MAAS has no machine 'nosuch'"):
        modules.maas.machine_status("nosuch")


def test_bad_arguments_are_refused_before_any_call(modules, enlisted):
    with pytest.raises(SaltInvocationError, match="statuses"):
        modules.maas.wait_for_machine("fun-cat", statuses="Bogus")
    with pytest.raises(SaltInvocationError, match="tags"):
        modules.maas.allocate_machine(tags=[1])
    with pytest.raises(SaltInvocationError, match="user_data"):
        modules.maas.deploy_machine("fun-cat", user_data=42)


def test_allocate_by_tag_and_the_409_text(modules, enlisted):
    with pytest.raises(CommandExecutionError, match="No available machine matches constraints"):
        modules.maas.allocate_machine(tags="k8s-worker", pool="default", hostname="fun-cat")
    allocated = modules.maas.allocate_machine(tags="k8s-worker")
    assert allocated["hostname"] == "keen-owl" and allocated["status_name"] == "Allocated"
    assert allocated["owner"] == "admin"


def test_machine_deployed(states, modules, enlisted, debug_logs):
    args = {"distro_series": "jammy", "user_data": USER_DATA, "poll": 0.1, "poll_max": 0.3}
    ret = states.maas.machine_deployed("keen-owl", test=True, **args)
    assert ret.result is None
    assert ret.changes == {
        "status": {"old": "Allocated", "new": "Deployed"},
        "distro_series": {"old": None, "new": "jammy"},
        "user_data": "set (not shown)",
    }
    assert modules.maas.machine_status("keen-owl")["status_name"] == "Allocated"

    ret = states.maas.machine_deployed("keen-owl", **args)
    assert ret.result is True, ret.comment
    assert ret.changes["status"] == {"old": "Allocated", "new": "Deployed"}
    assert modules.maas.machine_status("keen-owl")["status_name"] == "Deployed"

    again = states.maas.machine_deployed("keen-owl", **args)
    assert again.result is True and again.changes == {}
    assert PRIVATE_MARK not in debug_logs.text + str(ret) + str(again)

    other = states.maas.machine_deployed("keen-owl", distro_series="noble")
    assert other.result is False and "release it first" in other.comment
    assert other.changes == {}


def test_machine_released(states, modules, enlisted):
    ret = states.maas.machine_released("keen-owl", test=True)
    assert ret.result is None and ret.changes == {"status": {"old": "Deployed", "new": "Ready"}}
    ret = states.maas.machine_released("keen-owl", poll=0.1, poll_max=0.3)
    assert ret.result is True, ret.comment
    assert ret.changes == {"status": {"old": "Deployed", "new": "Ready"}}
    status = modules.maas.machine_status("keen-owl")
    assert status["status_name"] == "Ready" and status["owner"] is None
    again = states.maas.machine_released("keen-owl")
    assert again.result is True and again.changes == {}
    assert states.maas.machine_released("nosuch").changes == {}


@pytest.fixture
def node_pillar(loaders):
    """The module's (empty) pillar root gains ``nodes:fun-cat:user_data``."""
    root = pathlib.Path(loaders.opts["pillar_roots"]["base"][0])
    (root / "top.sls").write_text("base:\n  '*':\n    - nodes\n")
    (root / "nodes.sls").write_text(
        yaml.safe_dump({"nodes": {"fun-cat": {"user_data": USER_DATA}}})
    )
    loaders.refresh_pillar()
    yield
    for name in ("top.sls", "nodes.sls"):
        (root / name).unlink()
    loaders.refresh_pillar()


def test_user_data_from_pillar(states, maas_env, enlisted, node_pillar, debug_logs):
    missing = states.maas.machine_deployed("fun-cat", user_data_pillar="nodes:fun-cat:nope")
    assert missing.result is False and "user_data_pillar" in missing.comment
    assert missing.changes == {}
    ret = states.maas.machine_deployed(
        "fun-cat", user_data_pillar="nodes:fun-cat:user_data", poll=0.1, poll_max=0.3
    )
    assert ret.result is True, ret.comment
    assert ret.changes["user_data"] == "set (not shown)"
    record = maas_env.region.sim_dir / "deployments" / f"{enlisted['fun-cat']}.json"
    assert json.loads(record.read_text())["user_data"] == USER_DATA  # what the machine boots
    assert PRIVATE_MARK not in debug_logs.text + str(ret)
    released = states.maas.machine_released("fun-cat", poll=0.1, poll_max=0.3)
    assert released.result is True and not record.exists()


def test_failed_deployment_is_reported_with_maas_message(states, modules, maas_env, enlisted):
    maas_env.region.set_faults(deploy_fails=True)
    try:
        ret = states.maas.machine_deployed("fun-cat", poll=0.1, poll_max=0.3)
    finally:
        maas_env.region.set_faults(deploy_fails=None)
    assert ret.result is False
    assert "Failed deployment" in ret.comment and "Installation failed" in ret.comment
    assert ret.changes["status"]["old"] == "Ready"  # MAAS accepted the deployment
    retry = states.maas.machine_deployed("fun-cat", poll=0.1, poll_max=0.3)
    assert retry.result is True and retry.changes["status"] == {
        "old": "Failed deployment",
        "new": "Deployed",
    }
    states.maas.machine_released("fun-cat", poll=0.1)


@pytest.mark.timeout(60)  # a state that ignored its timeout would hang here
def test_silent_machine_times_out_within_bounds(states, maas_env, enlisted):
    maas_env.region.set_faults(machine_silent=True)
    try:
        ret = states.maas.machine_deployed("fun-cat", timeout=1.5, poll=0.2, poll_max=0.4)
    finally:
        maas_env.region.set_faults(machine_silent=None)
    # The state gave up after its own timeout (by its own clock, in its comment).
    assert ret.result is False and "still Deploying after 2 s" in ret.comment
