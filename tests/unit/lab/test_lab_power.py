"""kubesalt.lab.power.plan: the power driver boots a host once per deployment MAAS reports
Deployed, and powers it off when that deployment ends (release, delete, a new deployment)."""

from __future__ import annotations

import pytest

from kubesalt.lab import power

MACS = {"52:54:00:00:00:01": "k8s-bm-0", "52:54:00:00:00:02": "k8s-bm-1"}


def record(system_id, mac, status="Deployed", deployment="100.000"):
    return {
        "system_id": system_id,
        "hostname": f"name-{system_id}",
        "mac_addresses": [mac],
        "status": status,
        "deployment": deployment,
    }


def hosts_of(to_boot):
    return [host for host, _record in to_boot]


def test_a_deployed_machine_is_booted_once():
    records = [record("aaaaaa", "52:54:00:00:00:01")]
    to_boot, to_power_off = power.plan(records, MACS, {}, set())
    assert hosts_of(to_boot) == ["k8s-bm-0"] and to_power_off == []
    booted = {"k8s-bm-0": power.deployment_id(records[0])}
    assert power.plan(records, MACS, booted, set()) == ([], [])


@pytest.mark.parametrize("status", ["Deploying", "Failed deployment"])
def test_a_machine_not_deployed_is_left_off(status):
    records = [record("aaaaaa", "52:54:00:00:00:01", status=status)]
    assert power.plan(records, MACS, {}, set()) == ([], [])


def test_a_released_machine_is_powered_off_once():
    booted = {"k8s-bm-0": "aaaaaa-100.000", "k8s-bm-1": "bbbbbb-100.000"}
    records = [record("bbbbbb", "52:54:00:00:00:02")]  # aaaaaa released: no record
    assert power.plan(records, MACS, booted, set()) == ([], ["k8s-bm-0"])
    # Powered off: the driver forgets it, nothing more to do.
    assert power.plan(records, MACS, {"k8s-bm-1": "bbbbbb-100.000"}, set()) == ([], [])


def test_a_new_deployment_powers_off_then_boots_again():
    booted = {"k8s-bm-0": "aaaaaa-100.000"}
    deploying = [record("aaaaaa", "52:54:00:00:00:01", "Deploying", "200.000")]
    assert power.plan(deploying, MACS, booted, set()) == ([], ["k8s-bm-0"])
    deployed = [record("aaaaaa", "52:54:00:00:00:01", "Deployed", "200.000")]
    assert hosts_of(power.plan(deployed, MACS, {}, set())[0]) == ["k8s-bm-0"]


def test_a_record_being_rewritten_powers_nothing_off():
    booted = {"k8s-bm-0": "aaaaaa-100.000"}
    assert power.plan([{"system_id": "aaaaaa"}], MACS, booted, set()) == ([], [])


def test_a_host_being_booted_is_left_alone():
    records = [record("aaaaaa", "52:54:00:00:00:01")]
    assert power.plan(records, MACS, {}, {"k8s-bm-0"}) == ([], [])
    assert power.plan([], MACS, {"k8s-bm-0": "aaaaaa-100.000"}, {"k8s-bm-0"}) == ([], [])


def test_a_machine_of_no_lab_host_is_ignored():
    records = [record("cccccc", "52:54:00:00:00:99")]
    assert power.plan(records, MACS, {}, set()) == ([], [])
