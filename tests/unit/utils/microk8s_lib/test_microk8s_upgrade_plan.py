"""microk8s_lib.upgrade: the pure decisions of a rolling upgrade, from cases/upgrade_*.yaml."""

import pytest

from microk8s_lib import upgrade
from tests.support.cases import load_cases


@pytest.mark.parametrize("case", load_cases(__file__, "upgrade_step"))
def test_step(case):
    if "error" in case:
        with pytest.raises(ValueError, match=case["error"]):
            upgrade.step(case["current"], case["target"])
    else:
        assert upgrade.step(case["current"], case["target"]) == case["expected"]


@pytest.mark.parametrize("case", load_cases(__file__, "upgrade_plan"))
def test_plan(case):
    def run():
        return upgrade.plan(
            case["nodes"],
            case["control_planes"],
            case["workers"],
            case["target"],
            case["batch_size"],
        )

    if "error" in case:
        with pytest.raises(ValueError, match=case["error"]):
            run()
        return
    result = run()
    expected = case["expected"]
    assert result["target"] == expected["target"]
    assert result["voters"] == expected["voters"]
    assert [[n["id"] for n in batch] for batch in result["batches"]] == expected["batches"]
    assert result["current"] == expected["current"]
    steps = {n["id"]: n["step"] for batch in result["batches"] for n in batch}
    for minion, wanted in expected.get("steps", {}).items():
        assert steps[minion] == wanted
    roles = {n["id"]: n["role"] for batch in result["batches"] for n in batch}
    assert all(roles[m] == "control-plane" for m in case["control_planes"] if m in roles)


@pytest.mark.parametrize(
    ("version", "channel", "expected"),
    [("v1.33.4", "1.33/stable", True), ("v1.32.3", "1.33", False), ("", "1.33", False)],
)
def test_version_matches(version, channel, expected):
    assert upgrade.version_matches(version, channel) is expected
