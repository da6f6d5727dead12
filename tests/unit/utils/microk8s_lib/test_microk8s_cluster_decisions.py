"""Pure decisions the microk8s states take: cluster membership and snap channel equality."""

import pytest

from microk8s_lib import cluster
from microk8s_lib import upgrade
from tests.support.cases import load_cases


@pytest.mark.parametrize("case", load_cases(__file__, "membership"))
def test_membership(case):
    targets = case["targets"]
    label = ", ".join(f"{ip}:25000" for ip in targets)
    verdict, comment = cluster.standing(
        targets, case["own"], case["node_is_worker"], case["worker"]
    )
    if verdict == cluster.JOIN:
        verdict, comment = cluster.membership(targets, case["status"], case["worker"], label)
    assert verdict == case["expected"]["verdict"]
    assert case["expected"].get("says", "") in comment
    assert bool(comment) == (verdict != cluster.JOIN)


@pytest.mark.parametrize("case", load_cases(__file__, "same_channel"))
def test_same_channel(case):
    assert upgrade.same_channel(case["current"], case["wanted"]) is case["expected"]
