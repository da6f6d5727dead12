"""A plain `salt '*' state.highstate` on a fresh `kubesalt lab up --maas` (nothing applied,
no orchestration) converges every host within two runs (MAAS in the first: the racks and
the API key export wait for the region's hand-off), the second changes nothing of MAAS, and
a third run reports no change and no failure: the database, the region, its admin and
settings, both racks registered and verified through the API (their shared secret and API
key from pillar compiled on the master, which the first region handed to it), selections,
images synced, the API key as a Kubernetes secret on the control plane. Neither secret is
in a log, a job return, the master's cache or the mine; the master keeps them 0600 in a
0700 directory of its own user.

One lab for the module (salt, bastion, one control plane, maas-region, maas-rack-0/1).
"""

from __future__ import annotations

import base64
import json
import types

import pytest

from tests.support.lab import lab_up
from tests.support.lab_maas import changes
from tests.support.lab_maas import failures
from tests.support.lab_maas import highstate
from tests.support.lab_salt import salt_json
from tests.support.lab_salt import wait_for_the_master

pytestmark = [pytest.mark.lab, pytest.mark.timeout(900)]

DOMAIN = "lab.kubesalt.test"
REGION = f"maas-region.{DOMAIN}"
RACKS = ["maas-rack-0", "maas-rack-1"]
CONTROL_PLANE = "k8s-master"
HOSTS = ["salt", "bastion", CONTROL_PLANE, "maas-region", *RACKS]
SALT_TIMEOUT = 420
HANDOFF_DIR = f"/var/cache/salt/master/minions/{REGION}/files/kubesalt"
SECRET_FILE = "/var/snap/maas/common/maas/secret"


@pytest.fixture(scope="module")
def maas_highstate(tmp_path_factory):
    with lab_up(tmp_path_factory, workers=0, control_planes=1, maas=True) as lab:
        salt_json(lab, ["salt", "--out=json", "--static", "*", "saltutil.sync_all"])
        runs = []
        for _ in range(3):
            runs.append(highstate(lab))
            wait_for_the_master(lab)
        yield types.SimpleNamespace(lab=lab, runs=runs)


def region_call(lab, *args):
    return salt_json(lab, ["salt", "--out=json", "--static", REGION, *args], SALT_TIMEOUT)[REGION]


def secrets_of(lab):
    """The region's shared secret and the admin's API key, read by the commands themselves
    (asking Salt for them would put them in a job)."""
    secret = lab.exec("maas-region", ["cat", SECRET_FILE], check=True).stdout.strip()
    key = lab.exec("maas-region", ["maas", "apikey", "--username", "admin"], check=True)
    key = key.stdout.strip()
    assert len(secret) == 32 and key.count(":") == 2
    return secret, key


def test_converges_within_two_runs_and_the_third_changes_nothing(maas_highstate):
    first, second, third = maas_highstate.runs
    # The first run cannot finish the racks or the API key export: the region hands its
    # secret and key to the master during that run, after the racks compiled their pillar.
    assert not failures(second), failures(second)
    assert not failures(third), failures(third)
    assert not changes(third), changes(third)
    print(
        "\nplain highstate on the --maas lab: "
        + ", ".join(
            f"run {n}: {run.seconds:.1f} s, {len(failures(run))} host(s) failing"
            for n, run in enumerate(maas_highstate.runs, 1)
        )
    )
    # The racks and the API key export wait (bounded) for the region to hand its secret and
    # key to the master during the first run, so MAAS is complete after it: the second run
    # changes nothing on the MAAS hosts nor the key (the cluster's own second-run changes
    # are the cluster's business). A first-run failure there can only be that wait timing
    # out, saying why; a host whose first return was lost (the master restarting itself)
    # is not judged.
    for host, failed in failures(first).items():
        returned = not failed[0].startswith("no state return")
        for line in failed if returned and host in {"maas-region", *RACKS} else []:
            assert line.startswith("maas-rack-registered:"), line
            assert "hands its shared secret and API key to the master" in line, line
    second_changes = changes(second)
    for host in ("maas-region", *RACKS):
        assert not second_changes.get(host), (host, second_changes[host])
    assert "maas-apikey-exported" not in second_changes.get(CONTROL_PLANE, []), second_changes


def test_racks_registered_and_verified_through_the_api(maas_highstate):
    lab = maas_highstate.lab
    racks = {rack["hostname"]: rack for rack in region_call(lab, "maas.rack_controllers")}
    assert set(racks) == set(RACKS)
    for rack in racks.values():
        services = {service["name"]: service["status"] for service in rack["service_set"]}
        assert services["rackd"] == "running"
        images = region_call(lab, "maas.rack_boot_images", rack["system_id"])
        assert images["status"] == "synced"
        assert {image["name"] for image in images["images"]} == {"ubuntu/jammy", "ubuntu/noble"}
    wanted = json.dumps([{"os": "ubuntu", "release": r} for r in ("jammy", "noble")])
    status = region_call(lab, "maas.images_status", wanted)
    assert sorted(status["complete"]) == ["ubuntu/jammy", "ubuntu/noble"]
    assert region_call(lab, "maas.get_config", "network_discovery") == "disabled"


def test_api_key_is_a_secret_on_the_control_plane(maas_highstate):
    lab = maas_highstate.lab
    _secret, key = secrets_of(lab)
    read = lab.exec(
        CONTROL_PLANE,
        ["microk8s", "kubectl", "get", "secret", "maas-api-key", "-n", "maas", "-o", "json"],
        check=True,
    )
    assert base64.b64decode(json.loads(read.stdout)["data"]["token"]).decode() == key


def test_the_master_keeps_the_handoff_private(maas_highstate):
    """0600 in a 0700 directory, owned by the user salt-master runs as."""
    lab = maas_highstate.lab
    master_user = lab.exec(
        "salt", ["sh", "-c", "ps -o user= -p $(cat /run/salt-master.pid)"], check=True
    ).stdout.strip()
    modes = lab.exec(
        "salt",
        ["stat", "-c", "%a %U %n", HANDOFF_DIR, f"{HANDOFF_DIR}/maas-handoff.json"],
        check=True,
    ).stdout.split("\n")
    assert modes[0].split()[:2] == ["700", master_user], modes
    assert modes[1].split()[:2] == ["600", master_user], modes


def test_no_secret_in_logs_returns_job_cache_or_mine(maas_highstate):
    lab = maas_highstate.lab
    secret, key = secrets_of(lab)
    token = key.split(":")[2]
    encoded = base64.b64encode(key.encode()).decode()
    for run in maas_highstate.runs:
        assert secret not in run.text and token not in run.text and encoded not in run.text
    for host in HOSTS:
        found = lab.exec(
            host, ["grep", "-rlF", "-e", secret, "-e", token, "-e", encoded, "/var/log/salt"]
        )
        assert found.returncode == 1, f"{host}: a secret in {found.stdout.split()}"
    # The master's whole cache (job cache, mine, ...) but for what must hold them: the
    # hand-off itself and each minion's pillar in the minion data cache (Salt 3007:
    # minions/<id>/data.p; 3008: pillar/<id>.p), which must be the master's alone.
    loose = lab.exec(
        "salt",
        ["find", "/var/cache/salt/master", "-name", "*.p", "-perm", "/077", "-path", "*pillar*"],
        check=True,
    )
    assert not loose.stdout.strip(), f"pillar cache readable by others: {loose.stdout}"
    cache = lab.exec(
        "salt",
        [
            "grep",
            "-rlF",
            "--exclude=data.p",
            "--exclude-dir=pillar",
            f"--exclude-dir={HANDOFF_DIR.rsplit('/', 1)[1]}",
            "-e",
            secret,
            "-e",
            token,
            "/var/cache/salt/master",
        ],
    )
    assert cache.returncode == 1, f"a secret in {cache.stdout.split()} {cache.stderr}"
    mine = salt_json(lab, ["salt", "--out=json", "--static", "*", "mine.get", "*", "*"])
    assert secret not in json.dumps(mine) and token not in json.dumps(mine)
