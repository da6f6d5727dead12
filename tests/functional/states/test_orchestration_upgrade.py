"""orch/upgrade.sls renders the plan microk8s_upgrade.plan returns (runner answered by a test
double): control planes one at a time, workers in batches, each node drained, refreshed,
waited for and uncordoned, every step requiring the one before; a refused plan changes
nothing."""

from tests.support.state_tree import args_of
from tests.support.state_tree import render_orch

CPS = ["cp1.lab.test", "cp2.lab.test"]
WORKERS = ["w1.lab.test", "w2.lab.test", "w3.lab.test"]


def _node(minion, role):
    return {"id": minion, "node": minion.split(".")[0], "role": role, "from": "1.32/stable"}


PLAN = {
    "target": "1.33/stable",
    "voters": 1,
    "batches": [
        [_node(CPS[0], "control-plane")],
        [_node(CPS[1], "control-plane")],
        [_node(WORKERS[0], "worker"), _node(WORKERS[1], "worker")],
    ],
    "current": [WORKERS[2]],
    "helper": {CPS[0]: CPS[1], CPS[1]: CPS[0], WORKERS[0]: CPS[0], WORKERS[1]: CPS[0]},
    "settings": {"batch_size": 2, "drain_timeout": 300, "node_timeout": 600},
}


def render(node_loaders, plan):
    return render_orch(node_loaders, "upgrade.sls", {"microk8s_upgrade.plan": plan})


def test_plan_order_and_requisites(node_loaders):
    steps = render(node_loaders, PLAN)
    batch = "w1.lab.test+w2.lab.test"
    assert list(steps) == [
        "upgrade-plan",
        f"upgrade-drain-{CPS[0]}",
        f"upgrade-refresh-{CPS[0]}",
        f"upgrade-wait-{CPS[0]}",
        f"upgrade-uncordon-{CPS[0]}",
        "upgrade-batch-1-done",
        f"upgrade-drain-{CPS[1]}",
        f"upgrade-refresh-{CPS[1]}",
        f"upgrade-wait-{CPS[1]}",
        f"upgrade-uncordon-{CPS[1]}",
        "upgrade-batch-2-done",
        f"upgrade-drain-{WORKERS[0]}",
        f"upgrade-drain-{WORKERS[1]}",
        f"upgrade-refresh-{batch}",
        f"upgrade-wait-{WORKERS[0]}",
        f"upgrade-uncordon-{WORKERS[0]}",
        f"upgrade-wait-{WORKERS[1]}",
        f"upgrade-uncordon-{WORKERS[1]}",
        "upgrade-batch-3-done",
    ]
    assert args_of(steps["upgrade-plan"])["name"] == (
        "to 1.33/stable: cp1, then cp2, then w1 + w2 (already there: w3.lab.test)"
    )
    drain = args_of(steps[f"upgrade-drain-{CPS[0]}"])
    # A control plane is drained and watched from another one.
    assert (drain["name"], drain["tgt"], drain["arg"]) == ("microk8s.drain", CPS[1], ["cp1"])
    assert drain["require"] == [{"test": "upgrade-plan"}]
    assert args_of(steps[f"upgrade-drain-{CPS[1]}"])["require"] == [
        {"test": "upgrade-batch-1-done"}
    ]
    refresh = args_of(steps[f"upgrade-refresh-{batch}"])
    assert refresh["tgt"] == "w1.lab.test,w2.lab.test"
    assert refresh["sls"] == ["microk8s.upgraded"]
    assert refresh["require"] == [
        {"salt": f"upgrade-drain-{WORKERS[0]}"},
        {"salt": f"upgrade-drain-{WORKERS[1]}"},
    ]
    wait_cp = args_of(steps[f"upgrade-wait-{CPS[0]}"])
    assert wait_cp["kwarg"] == {"version": "1.33/stable", "voters": 1, "timeout": 600}
    assert args_of(steps[f"upgrade-wait-{WORKERS[0]}"])["kwarg"]["voters"] == 0
    uncordon = args_of(steps[f"upgrade-uncordon-{WORKERS[1]}"])
    assert uncordon["require"] == [{"salt": f"upgrade-wait-{WORKERS[1]}"}]


def test_nothing_to_do(node_loaders):
    steps = render(node_loaders, {**PLAN, "batches": [], "helper": {}})
    assert list(steps) == ["upgrade-plan"]
    assert "nothing to do" in args_of(steps["upgrade-plan"])["name"]


def test_refused_plan_only_fails(node_loaders):
    error = "cannot upgrade to 1.34/stable: w1.lab.test: 1.32/stable -> 1.34/stable skips a minor"
    steps = render(node_loaders, {"error": error})
    assert list(steps) == ["upgrade-refused"]
    refused = args_of(steps["upgrade-refused"])
    assert (refused["function"], refused["name"]) == ("test.fail_without_changes", error)
