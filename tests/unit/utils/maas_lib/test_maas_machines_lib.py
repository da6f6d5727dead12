"""maas_lib.machines: plans for the machine states, look-ups, user-data encoding."""

import base64

import pytest

from maas_lib import machines
from tests.support.cases import load_cases

MACHINES = [
    {"system_id": "abc123", "hostname": "fun-cat", "fqdn": "fun-cat.maas", "status": 4},
    {"system_id": "def456", "hostname": "keen-owl", "fqdn": "keen-owl.maas", "status": 6},
]


@pytest.mark.parametrize("case", load_cases(__file__, "machine_plans"))
def test_plans(case):
    plan = machines.deploy_plan(case["machine"], case["series"])
    assert plan["action"] == case["deploy"]
    if "why" in case:
        assert plan["why"].startswith(case["why"])
    assert machines.release_plan(case["machine"])["action"] == case["release"]


@pytest.mark.parametrize(
    ("name", "system_id"),
    [
        ("abc123", "abc123"),
        ("fun-cat", "abc123"),
        ("keen-owl.maas", "def456"),
        ("keen-owl.example.com", "def456"),  # a minion id whose first label is the hostname
        ("nosuch", None),
    ],
)
def test_find(name, system_id):
    found = machines.find(MACHINES, name)
    assert (found or {}).get("system_id") == system_id


def test_summary_and_names():
    machine = {
        **MACHINES[0],
        "status_name": "Ready",
        "pool": {"name": "lab", "id": 1},
        "tag_names": ["k8s"],
    }
    summary = machines.summary(machine)
    assert summary["pool"] == "lab" and summary["status"] == 4 and summary["tag_names"] == ["k8s"]
    assert machines.status_name(11) == "Failed deployment"
    assert machines.status_name(99) == "status 99"


def test_user_data_is_base64_as_maas_takes_it():
    text = "#cloud-config\nhostname: w1\n"
    assert base64.b64decode(machines.encode_user_data(text)).decode() == text
    assert machines.encode_user_data(text.encode()) == machines.encode_user_data(text)
    with pytest.raises(ValueError, match="user_data"):
        machines.encode_user_data(42)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, []), ("a, b", ["a", "b"]), (["x"], ["x"]), ("", [])],
)
def test_as_list(value, expected):
    assert machines.as_list("tags", value) == expected


def test_as_list_rejects_bad_values():
    with pytest.raises(ValueError, match="tags"):
        machines.as_list("tags", [1, 2])
