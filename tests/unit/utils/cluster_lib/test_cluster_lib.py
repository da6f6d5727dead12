"""Pure helpers of the state tree: pillar validation and the data the SLS files loop over."""

import copy
import re

import pytest
import yaml

from cluster_lib import cluster
from cluster_lib import master
from cluster_lib import validate
from tests.support.cases import load_cases
from tests.support.paths import PILLAR_DIR
from tests.support.paths import REPO_ROOT
from tests.support.paths import SALT_DIR


def merge(base, over):
    result = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def example_config():
    defaults = yaml.safe_load((SALT_DIR / "states" / "defaults.yaml").read_text())["kubesalt"]
    example = yaml.safe_load((REPO_ROOT / "pillar.example").read_text())["kubesalt"]
    return merge(defaults, example)


def walk(config, path):
    """Colon path -> (parent mapping, leaf key); file paths, sysctl and addon names stay
    whole."""
    if path.startswith(("files:", "sysctl:")):
        parts = path.split(":", 1)
    elif path.startswith("microk8s:addons:"):
        parts = path.split(":", 2)
    else:
        parts = path.split(":")
    node = config
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    return node, parts[-1]


@pytest.mark.parametrize("case", load_cases(__file__, "validation"))
def test_validation(case):
    config = example_config()
    for path, value in (case.get("set") or {}).items():
        node, leaf = walk(config, path)
        node[leaf] = value
    for path in case.get("delete") or []:
        node, leaf = walk(config, path)
        del node[leaf]
    minion_id = case.get("minion_id", "k8s-master.lab.kubesalt.test")
    # The host's kernel settings: those of the example, plus net.ipv4.ip_forward.
    known = set(example_config()["sysctl"]) | {"net.ipv4.ip_forward"}

    def sysctl_exists(name):
        return name in known

    if not case["problems"]:
        validate.validate(config, minion_id, sysctl_exists)
        return
    with pytest.raises(validate.PillarError) as caught:
        validate.validate(config, minion_id, sysctl_exists)
    problems = caught.value.problems
    assert len(problems) == len(case["problems"]), problems
    for expected in case["problems"]:
        matching = [p for p in problems if p.startswith(expected["key"] + ": ")]
        assert matching, (expected["key"], problems)
        assert expected["message"] in matching[0], matching[0]
    assert "nothing was changed" in str(caught.value)


def test_problem_messages_never_quote_file_contents():
    config = example_config()
    config["files"]["/etc/secret"] = {"contents": "s3cr3t-value", "source": "salt://x"}
    with pytest.raises(validate.PillarError) as caught:
        validate.validate(config, "k8s-master.lab.kubesalt.test")
    assert "s3cr3t-value" not in str(caught.value)


def test_top_file_uses_the_same_id_pattern():
    top = (PILLAR_DIR / "top.sls").read_text()
    patterns = re.findall(r"regex_match\('([^']+)'\)", top)
    assert patterns == [validate.MINION_ID_PATTERN]
    lengths = re.findall(r"minion_id \| length <= (\d+)", top)
    assert lengths == [str(validate.MAX_ID_LENGTH)]


@pytest.mark.parametrize(
    ("minion_id", "ok"),
    [
        ("k8s-master.lab.kubesalt.test", True),
        ("node1", True),
        ("a" * 63 + ".test", True),
        ("a" * 64 + ".test", False),
        ("x." * 126 + "ab", False),  # 254 characters
        ("node*", False),
        ("node?.lab", False),
        ("[n]ode.lab", False),
        ("-node.lab", False),
        ("node-.lab", False),
        ("node..lab", False),
        ("node.lab.", False),
        ("node_1.lab", False),
        ("", False),
        (None, False),
    ],
)
def test_minion_id_pattern(minion_id, ok):
    assert validate.minion_id_ok(minion_id) is ok


def test_host_entries_prefer_the_mine_inside_the_private_network():
    nodes = {
        "a.lab": {"private_ip": "10.1.0.1"},
        "b.lab": {"private_ip": "10.1.0.2"},
        "c": {"private_ip": "10.1.0.3"},
    }
    published = {"a.lab": ["10.0.0.9", "10.1.0.11"], "b.lab": [], "zz.lab": ["10.1.0.99"]}
    assert cluster.host_entries(nodes, published, "10.1.0.0/16") == [
        {"ip": "10.1.0.11", "names": ["a.lab", "a"]},
        {"ip": "10.1.0.2", "names": ["b.lab", "b"]},
        {"ip": "10.1.0.3", "names": ["c"]},
    ]


def test_addon_plan():
    plan = cluster.addon_plan(
        {
            "registry": False,
            "dns": {"args": ["10.1.0.1"]},
            "helm3": True,
            "rbac": {"enabled": False},
        }
    )
    assert plan == {
        "enabled": [{"name": "dns", "args": ["10.1.0.1"]}, {"name": "helm3", "args": []}],
        "disabled": ["rbac", "registry"],
    }


CPS = ["cp-0.lab", "cp-1.lab", "cp-2.lab"]
WORKERS = ["w-0.lab"]
INFO = {"cp-0.lab": {"address": "10.1.0.10:25000", "fingerprint": "abcdef012345"}}
ALL = {
    **INFO,
    "cp-1.lab": {"address": "10.1.0.11:25000", "fingerprint": "111111111111"},
    "cp-2.lab": {"address": "10.1.0.12:25000", "fingerprint": "222222222222"},
}
CHECKS = {"10.1.0.10": "abcdef012345", "10.1.0.11": "111111111111", "10.1.0.12": "222222222222"}


@pytest.mark.parametrize(
    ("minion_id", "published", "expected"),
    [
        ("cp-0.lab", INFO, {"role": "bootstrap", "addresses": [], "fingerprint": None}),
        (
            "cp-1.lab",
            INFO,
            {
                "role": "control-plane",
                "addresses": ["10.1.0.10:25000"],
                "fingerprint": {"10.1.0.10": "abcdef012345"},
            },
        ),
        (
            "w-0.lab",
            INFO,
            {
                "role": "worker",
                "addresses": ["10.1.0.10:25000"],
                "fingerprint": {"10.1.0.10": "abcdef012345"},
            },
        ),
        # Every control plane in turn, the bootstrap one first; never itself.
        (
            "w-0.lab",
            ALL,
            {
                "role": "worker",
                "addresses": ["10.1.0.10:25000", "10.1.0.11:25000", "10.1.0.12:25000"],
                "fingerprint": CHECKS,
            },
        ),
        (
            "cp-2.lab",
            ALL,
            {
                "role": "control-plane",
                "addresses": ["10.1.0.10:25000", "10.1.0.11:25000"],
                "fingerprint": {k: v for k, v in CHECKS.items() if k != "10.1.0.12"},
            },
        ),
        # The bootstrap control plane not in the mine (yet, or gone): the others will do.
        (
            "w-0.lab",
            {"cp-1.lab": ALL["cp-1.lab"]},
            {
                "role": "worker",
                "addresses": ["10.1.0.11:25000"],
                "fingerprint": {"10.1.0.11": "111111111111"},
            },
        ),
        ("w-0.lab", {}, {"role": "worker", "addresses": [], "fingerprint": None}),
        ("other.lab", INFO, {"role": None, "addresses": [], "fingerprint": None}),
    ],
)
def test_join_plan(minion_id, published, expected):
    plan = cluster.join_plan(minion_id, CPS, WORKERS, published)
    waiting = plan.pop("waiting_for")
    after = plan.pop("after")
    assert after == (CPS[1 : CPS.index(minion_id)] if expected["role"] == "control-plane" else [])
    assert plan == expected
    assert waiting == (
        ["cp-0.lab"] if expected["role"] in ("control-plane", "worker") and not published else []
    )


@pytest.mark.parametrize("case", load_cases(__file__, "membership"))
def test_membership(case):
    found = cluster.membership(case["inventory"], case["joiners"], case["current"], case["local"])
    assert found == {"pending": case["pending"], "stale": case["stale"]}


def test_inventory_addresses_take_the_mine_and_the_inventory():
    nodes = {"a.lab": {"private_ip": "10.1.0.1"}, "b.lab": {}, "c.lab": {"private_ip": "10.1.0.3"}}
    published = {"a.lab": ["10.0.0.9", "10.1.0.11"], "b.lab": ["10.1.0.2"]}
    assert cluster.inventory_addresses(
        ["a.lab", "b.lab", "c.lab", "d.lab"], nodes, published, "10.1.0.0/16"
    ) == {
        "a.lab": ["10.1.0.11", "10.1.0.1"],
        "b.lab": ["10.1.0.2"],
        "c.lab": ["10.1.0.3"],
        "d.lab": [],
    }


@pytest.mark.parametrize("case", load_cases(__file__, "master_activity"))
def test_master_activity(case):
    clients = master.salt_clients(
        [(pid, argv) for pid, argv in case.get("processes") or []], case.get("exclude") or ()
    )
    busy = [f"{name} (pid {pid})" for pid, name in clients]
    busy += master.busy_jobs(case.get("runners") or [], case.get("minion_jobs") or {})
    assert busy == case["busy"]


def test_control_plane_after_the_one_before_it():
    assert cluster.join_plan("cp-2.lab", CPS, WORKERS, INFO)["after"] == ["cp-1.lab"]
    assert cluster.join_plan("cp-1.lab", CPS, WORKERS, INFO)["after"] == []


def test_not_yet_members_from_the_mine():
    def status(*addresses):
        return {"high_availability": {"nodes": [{"address": a} for a in addresses]}}

    published = {
        "cp-1.lab": status("10.1.0.10:19001", "10.1.0.11:19001"),
        "cp-2.lab": status("10.1.0.12:19001"),
        "cp-3.lab": "not a status",
    }
    assert cluster.not_yet_members(["cp-1.lab", "cp-2.lab", "cp-3.lab", "cp-4.lab"], published) == [
        "cp-2.lab",
        "cp-3.lab",
        "cp-4.lab",
    ]
