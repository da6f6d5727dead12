"""MAAS in the lab (`kubesalt lab up --maas`): orch.cluster, then at once orch.maas brings up the
database (Salt's postgres states in the region host's real PostgreSQL), the region, its
admin and settings, two racks joined and verified through the region's API, selections and
synced images, and the admin's API key as a Kubernetes secret on the control plane; a
second run changes nothing; then MAAS deploys two bare-metal machines (orch.baremetal): a
deployment failure stops the run with MAAS's message, the rerun converges, the machines
boot their user-data through real cloud-init under MAAS's names and end as Ready workers,
admitted with keys the master accepted in advance, and a plain highstate afterwards
changes nothing; `lab down` leaves no MAAS daemon behind.

One lab for the module (salt, bastion, one control plane, no worker, maas-region,
maas-rack-0, maas-rack-1, k8s-bm-0/1 powered off).
"""

from __future__ import annotations

import base64
import json
import pathlib
import types

import pytest

from kubesalt.lab import demo
from kubesalt.lab import power
from kubesalt.lab.lab import MAAS_PG_DIR
from tests.support.lab import lab_up
from tests.support.lab_maas import changed
from tests.support.lab_maas import failed
from tests.support.lab_maas import orch_maas
from tests.support.lab_salt import salt_json
from tests.support.lab_salt import wait_for_master_restart

pytestmark = [pytest.mark.lab, pytest.mark.timeout(900)]

DOMAIN = "lab.kubesalt.test"
REGION = f"maas-region.{DOMAIN}"
RACKS = ["maas-rack-0", "maas-rack-1"]
CONTROL_PLANE = "k8s-master"
SALT_TIMEOUT = 300
DAEMON_WORDS = ("postgres", "regiond", "rackd")


def region_call(lab, *args):
    doc = salt_json(lab, ["salt", "--out=json", "--static", REGION, *args], SALT_TIMEOUT)
    return doc[REGION]


def daemons(lab) -> dict:
    """pid -> (start time, command) of the MAAS hosts' daemons, seen from the machine."""
    found = {}
    for host in ["maas-region", *RACKS]:
        namespace = pathlib.Path(f"/proc/{lab.host_pid(host)}/ns/pid").readlink()
        for entry in pathlib.Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if (entry / "ns" / "pid").readlink() != namespace:
                    continue
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                start = (entry / "stat").read_text().rsplit(")", 1)[1].split()[19]
            except OSError:
                continue
            if any(word in command for word in DAEMON_WORDS):
                found[int(entry.name)] = (start, command.strip())
    return found


def still_running(recorded: dict) -> dict:
    alive = {}
    for pid, (start, command) in recorded.items():
        try:
            now = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if now[19] == start and now[0] != "Z":
            alive[pid] = command
    return alive


@pytest.fixture(scope="module")
def maas_lab(tmp_path_factory):
    with lab_up(tmp_path_factory, workers=0, control_planes=1, maas=True, bare_metal=2) as lab:
        salt_json(lab, ["salt", "--out=json", "--static", "*", "saltutil.sync_all"])
        # docs/maas.md's lab sequence as a user types it: orch.cluster, then at once
        # orch.maas (the master's restart after its configuration changed must not land in
        # the middle of the next orchestration).
        cluster = salt_json(
            lab, ["salt-run", "--out=json", "state.orchestrate", "orch.cluster"], SALT_TIMEOUT
        )
        (cluster_steps,) = cluster["data"].values()
        assert isinstance(cluster_steps, dict), cluster_steps
        assert all(step["result"] for step in cluster_steps.values()), cluster_steps
        first = orch_maas(lab)
        second = orch_maas(lab)
        # orch.cluster changed the master's configuration: it restarts itself once idle,
        # i.e. now; the checks below talk to it.
        wait_for_master_restart(lab)
        yield types.SimpleNamespace(lab=lab, first=first, second=second)


def test_inventory_has_the_maas_roles(maas_lab):
    inventory = salt_json(
        maas_lab.lab,
        ["salt", "--out=json", "--static", REGION, "pillar.get", "kubesalt:nodes", "unmask=True"],
    )[REGION]
    assert inventory[REGION] == {"roles": ["maas_db", "maas_region"], "private_ip": "10.1.0.30"}
    for index, rack in enumerate(RACKS):
        assert inventory[f"{rack}.{DOMAIN}"] == {
            "roles": ["maas_rack"],
            "private_ip": f"10.1.0.{31 + index}",
        }


def test_orchestration_brings_maas_up(maas_lab):
    run = maas_lab.first
    assert not failed(run)
    assert changed(run) >= {
        ("maas-region", "maas-db-user"),
        ("maas-region", "maas-db-database"),
        ("maas-region", "maas-region-initialized"),
        ("maas-region", "maas-region-admin"),
        ("maas-region", "maas-region-settings"),
        ("maas-rack-0", "maas-rack-registered"),
        ("maas-rack-1", "maas-rack-registered"),
        ("maas-region", "maas-sync-selection-ubuntu-noble"),
        ("maas-region", "maas-sync-images"),
        (CONTROL_PLANE, "maas-apikey-exported"),
    }


def test_database_is_in_the_real_postgresql(maas_lab):
    query = "SELECT datname, pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'maasdb'"
    psql = ["runuser", "-u", "postgres", "--", "psql", "-h", f"{MAAS_PG_DIR}/sock", "-tAc", query]
    run = maas_lab.lab.exec("maas-region", psql, check=True)
    assert run.stdout.strip() == "maasdb|maas"


def test_racks_joined_and_verified_through_the_api(maas_lab):
    racks = {rack["hostname"]: rack for rack in region_call(maas_lab.lab, "maas.rack_controllers")}
    assert set(racks) == set(RACKS)
    for rack in racks.values():
        services = {service["name"]: service["status"] for service in rack["service_set"]}
        assert services["rackd"] == "running"
        images = region_call(maas_lab.lab, "maas.rack_boot_images", rack["system_id"])
        assert images["status"] == "synced"
        assert {image["name"] for image in images["images"]} == {"ubuntu/jammy", "ubuntu/noble"}


def test_settings_selections_and_images(maas_lab):
    lab = maas_lab.lab
    assert region_call(lab, "maas.get_config", "network_discovery") == "disabled"
    assert region_call(lab, "maas.get_config", "enable_analytics") is False
    selections = region_call(lab, "maas.boot_source_selections")
    assert {(s["os"], s["release"]) for s in selections} == {
        ("ubuntu", "jammy"),
        ("ubuntu", "noble"),
    }
    wanted = json.dumps([{"os": "ubuntu", "release": r} for r in ("jammy", "noble")])
    status = region_call(lab, "maas.images_status", wanted)
    assert sorted(status["complete"]) == ["ubuntu/jammy", "ubuntu/noble"]
    assert status["incomplete"] == {}


def test_api_key_exported_to_the_control_plane(maas_lab):
    lab = maas_lab.lab
    # Read here, by the command itself: asking Salt for it would put it in a job.
    key = lab.exec("maas-region", ["maas", "apikey", "--username", "admin"], check=True)
    key = key.stdout.strip()
    assert key.count(":") == 2
    secret = lab.exec(
        CONTROL_PLANE,
        ["microk8s", "kubectl", "get", "secret", "maas-api-key", "-n", "maas", "-o", "json"],
        check=True,
    )
    data = json.loads(secret.stdout)["data"]
    assert base64.b64decode(data["token"]).decode() == key
    # Never in a return, a Salt log or the simulator's invocation log (argv only: the
    # manifest went through stdin).
    encoded = data["token"]
    for run in (maas_lab.first, maas_lab.second):
        assert key not in run.text and encoded not in run.text
    for host in ["salt", "maas-region", *RACKS, CONTROL_PLANE]:
        found = lab.exec(host, ["grep", "-rlF", "-e", key, "-e", encoded, "/var/log/salt"])
        assert found.returncode == 1, f"{host}: the API key in {found.stdout.split()}"
    log = "/var/lib/kubesalt-sim/microk8s/invocations.jsonl"
    invocations = lab.exec(CONTROL_PLANE, ["cat", log], check=True).stdout
    argvs = [json.loads(line)["argv"][1:] for line in invocations.splitlines()]
    assert ["kubectl", "apply", "-f", "-"] in argvs
    assert key not in invocations and encoded not in invocations


def test_second_run_changes_nothing(maas_lab):
    run = maas_lab.second
    assert not failed(run)
    assert not changed(run)
    # Every step of the first run ran again (nothing skipped) and changed nothing: a
    # salt.state step without changes says so and returns no states.
    assert set(run.steps) == set(maas_lab.first.steps)
    for step_id, step in run.steps.items():
        assert step["changes"] == {}, step_id
        assert step["comment"].startswith("States ran successfully. No changes made to")


def test_orchestration_passes_no_secret(maas_lab):
    """orch.maas reads no secret while rendering and passes none as pillar: the racks and
    the control plane compile theirs on the master (pillar/maas.sls)."""
    lab = maas_lab.lab
    secret = lab.exec("maas-region", ["cat", "/var/snap/maas/common/maas/secret"], check=True)
    secret = secret.stdout.strip()
    assert len(secret) == 32
    for run in (maas_lab.first, maas_lab.second):
        assert secret not in run.text
    jobs = lab.exec("salt", ["grep", "-rlF", secret, "/var/cache/salt/master/jobs"])
    assert jobs.returncode == 1, f"the shared secret in {jobs.stdout.split()}"


BARE_METAL = ["k8s-bm-0", "k8s-bm-1"]


def orch_baremetal(lab, machines):
    run = demo.orchestrate_baremetal(lab, machines)
    start = run.stdout.find("{")
    assert start >= 0, f"orch.baremetal: no JSON (exit {run.returncode}): {run.stderr[-2000:]}"
    (steps,) = json.loads(run.stdout[start:])["data"].values()
    return types.SimpleNamespace(steps=steps, text=run.stdout + run.stderr)


@pytest.fixture(scope="module")
def baremetal(maas_lab):
    """Enlist both machines, deploy them with a deployment fault (the run stops), clear it
    and run again (converges), then one plain highstate."""
    lab = maas_lab.lab
    machines = power.enlist(lab)
    fault = ["kubesalt", "sim", "maas", "fault", "--root", "/"]
    lab.exec("maas-region", [*fault, "deploy_fails=true"], check=True)
    try:
        failed_run = orch_baremetal(lab, machines)
    finally:
        lab.exec("maas-region", [*fault, "deploy_fails="], check=True)
    converged = orch_baremetal(lab, machines)
    # The nested orch.cluster may leave a master restart pending until the master is idle.
    wait_for_master_restart(lab)
    # --timeout: under load the default 5 s gather gives up on busy minions (an empty return).
    highstate = salt_json(
        lab, ["salt", "--out=json", "--static", "--timeout=540", "*", "state.highstate"], 600
    )
    return types.SimpleNamespace(
        machines=machines, failed=failed_run, converged=converged, highstate=highstate
    )


def test_baremetal_deploy_failure_stops_with_maas_message(baremetal):
    steps = {step["__id__"]: step for step in baremetal.failed.steps.values()}
    assert steps["baremetal-prepare"]["result"] is True
    assert steps["baremetal-deployed"]["result"] is False
    assert "Failed deployment" in baremetal.failed.text
    # Nothing after the failed step ran.
    assert steps["baremetal-minions"]["result"] is False
    assert "requisite" in steps["baremetal-minions"]["comment"].lower()


def test_baremetal_rerun_converges_to_ready_workers(maas_lab, baremetal):
    lab = maas_lab.lab
    steps = baremetal.converged.steps
    assert all(step["result"] for step in steps.values()), baremetal.converged.text[-3000:]
    names = {host: machine["hostname"] for host, machine in baremetal.machines.items()}
    assert set(names) == set(BARE_METAL)
    nodes = salt_json(
        lab, ["salt", "--out=json", "--static", f"{CONTROL_PLANE}*", "microk8s.nodes"]
    )[f"{CONTROL_PLANE}.{DOMAIN}"]
    ready = {node["name"]: node["ready"] for node in nodes}
    for host, maas_name in names.items():
        # MAAS named the machine; its minion id is the inventory's.
        assert maas_name != host
        assert ready.get(maas_name) is True, nodes
        assert lab.exec(host, ["hostname"], check=True).stdout.strip() == maas_name
        minion_id = lab.exec(host, ["cat", "/etc/salt/minion_id"], check=True).stdout.strip()
        assert minion_id == f"{host}.{DOMAIN}"
        status = region_call(lab, "maas.machine_status", maas_name)
        assert status["status_name"] == "Deployed", status


def test_baremetal_keys_accepted_in_advance_and_private(maas_lab, baremetal):
    lab = maas_lab.lab
    keys = lab.exec("salt", ["salt-key", "--out=json", "-L"], check=True)
    listed = json.loads(keys.stdout)
    for host in BARE_METAL:
        assert f"{host}.{DOMAIN}" in listed["minions"]
        assert f"{host}.{DOMAIN}" not in listed["minions_pre"]
        private = lab.exec(host, ["cat", "/etc/salt/pki/minion/minion.pem"], check=True).stdout
        body = private.strip().splitlines()[5]
        for run in (baremetal.failed, baremetal.converged):
            assert body not in run.text
        for where, path in (("salt", "/var/log/salt"), ("salt", "/var/cache/salt/master/jobs")):
            found = lab.exec(where, ["grep", "-rlF", body, path])
            assert found.returncode == 1, f"{host}'s private key in {found.stdout.split()}"
        for where in ("maas-region", host):
            found = lab.exec(where, ["grep", "-rlF", body, "/var/log/salt"])
            assert found.returncode == 1, f"{host}'s private key in {where}: {found.stdout}"
    config = ["/etc/salt/master", "/etc/salt/master.d"]
    master = lab.exec("salt", ["grep", "-rE", "^auto_accept", *config])
    assert "True" not in master.stdout


def test_plain_highstate_after_baremetal_changes_nothing(baremetal):
    returns = baremetal.highstate
    assert {f"{h}.{DOMAIN}" for h in BARE_METAL} <= set(returns)
    changed = {
        minion: sorted(s["__id__"] for s in states.values() if s.get("changes"))
        for minion, states in returns.items()
        if isinstance(states, dict)
    }
    failed_states = {
        minion: [s["__id__"] for s in states.values() if not s["result"]]
        for minion, states in returns.items()
        if isinstance(states, dict)
    }
    # The machines and the control plane they joined: nothing left to change. (The racks'
    # first highstate applies core, which orch.maas does not.)
    touched = [f"{h}.{DOMAIN}" for h in [*BARE_METAL, CONTROL_PLANE, "salt"]]
    assert not any(changed[m] for m in touched), changed
    assert not any(failed_states.values()), failed_states
    assert all(isinstance(states, dict) for states in returns.values()), returns


def test_lab_down_leaves_no_maas_daemon(maas_lab):
    recorded = daemons(maas_lab.lab)
    commands = " ".join(command for _start, command in recorded.values())
    assert all(word in commands for word in DAEMON_WORDS), commands
    maas_lab.lab.down()
    assert not still_running(recorded)
