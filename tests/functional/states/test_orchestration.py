"""orch/cluster.sls renders the roll-out in the documented order (runners answered by a
test double: no master here)."""

import shutil

import pytest
import yaml

from tests.support.paths import EXT_DIRS
from tests.support.paths import PILLAR_DIR
from tests.support.state_tree import BASTION
from tests.support.state_tree import EXAMPLE
from tests.support.state_tree import FAKES
from tests.support.state_tree import MASTER
from tests.support.state_tree import ORCH_DIR
from tests.support.state_tree import SALT
from tests.support.state_tree import WORKERS
from tests.support.state_tree import args_of
from tests.support.state_tree import render_cluster as render
from tests.support.state_tree import split_example
from tests.support.state_tree import write_sls

ORCH = ORCH_DIR / "cluster.sls"
GONE = "k8s-worker-9.lab.kubesalt.test"


def test_roll_out_order(node_loaders):
    steps = render(node_loaders)
    assert list(steps) == [
        "cluster-salt-master",
        "cluster-bastion",
        "cluster-microk8s-base",
        "cluster-mine-update",
        f"cluster-control-plane-{MASTER}",
        f"cluster-join-info-{MASTER}",
        "cluster-workers",
    ]
    master = args_of(steps["cluster-salt-master"])
    assert master["tgt"] == SALT
    # The master's own highstate, whole: its restart waits until the master is idle (no
    # sleep-timed restart step that could land in the middle of the next orchestration).
    assert "exclude" not in master
    assert not [step for step in steps if "restart" in step]
    assert args_of(steps["cluster-bastion"])["tgt"] == BASTION
    base = args_of(steps["cluster-microk8s-base"])
    assert base["tgt"] == ",".join([MASTER, *WORKERS])
    assert base["tgt_type"] == "list"
    assert base["sls"] == ["core", "microk8s.base"]
    assert args_of(steps[f"cluster-control-plane-{MASTER}"])["sls"] == ["microk8s.master"]
    workers = args_of(steps["cluster-workers"])
    assert workers["tgt"] == ",".join(WORKERS)
    assert workers["sls"] == ["microk8s.joined"]
    assert workers["require"] == [{"salt": f"cluster-join-info-{MASTER}"}]


def test_every_known_node_is_untouched_by_removal(node_loaders):
    nodes = sorted(EXAMPLE["kubesalt"]["nodes"])
    steps = render(node_loaders, published=nodes, up=nodes)
    assert not [step for step in steps if "leave" in step or "forget" in step]


def test_removed_node_leaves_if_it_answers_and_is_forgotten(node_loaders):
    steps = render(node_loaders, published=[MASTER, GONE], up=[GONE])
    leave = args_of(steps[f"cluster-leave-{GONE}"])
    assert leave["function"] == "salt.function"
    assert leave["name"] == "microk8s.leave"
    assert leave["tgt"] == GONE
    forget = args_of(steps[f"cluster-mine-forget-{GONE}"])
    assert (forget["function"], forget["name"], forget["tgt"]) == (
        "salt.runner",
        "cache.clear_mine",
        GONE,
    )
    order = list(steps)
    # Before the control plane's run, which removes it from Kubernetes.
    assert order.index(f"cluster-leave-{GONE}") < order.index(f"cluster-control-plane-{MASTER}")


def test_unreachable_removed_node_is_only_forgotten(node_loaders):
    steps = render(node_loaders, published=[GONE], up=[])
    assert f"cluster-leave-{GONE}" not in steps
    assert f"cluster-mine-forget-{GONE}" in steps


def test_control_planes_join_one_at_a_time(node_loaders, tmp_path):
    inventory, _ = split_example()
    extra = ["k8s-master-1.lab.kubesalt.test", "k8s-master-2.lab.kubesalt.test"]
    for index, node_id in enumerate(extra, start=1):
        inventory["kubesalt"]["nodes"][node_id] = {
            "roles": ["microk8s_control_plane"],
            "private_ip": f"10.1.0.{10 + index}",
        }
    inventory["kubesalt"]["microk8s"]["control_planes"] += extra
    root = tmp_path / "pillar"
    shutil.copytree(PILLAR_DIR, root)
    write_sls(root / "_from_terraform.sls", inventory)
    loaders = node_loaders(
        SALT,
        pillar_roots={"base": [str(root)]},
        module_dirs=[*EXT_DIRS["module_dirs"], str(FAKES)],
        kubesalt_fake_runner={"cache.mine": {}, "manage.up": []},
    )
    steps = loaders.modules.slsutil.renderer(path=str(ORCH))
    joins = [step for step in steps if step.startswith("cluster-control-plane-")]
    assert joins == [f"cluster-control-plane-{node}" for node in [MASTER, *extra]]
    first, second = (args_of(steps[f"cluster-control-plane-{node}"]) for node in extra)
    assert first["sls"] == second["sls"] == ["microk8s.joined"]
    assert first["require"] == [{"salt": f"cluster-join-info-{MASTER}"}]
    assert second["require"] == [{"salt": f"cluster-control-plane-{extra[0]}"}]
    assert args_of(steps["cluster-workers"])["require"] == [
        {"salt": f"cluster-control-plane-{extra[1]}"}
    ]


def _state(result=True, changes=None):
    return {"result": result, "changes": changes or {}, "comment": "", "__id__": "x"}


MANAGED = [SALT, BASTION, MASTER, *WORKERS]


def test_converged_cluster_is_checked_once_and_skipped(node_loaders):
    preview = {node: {"a": _state(), "b": _state()} for node in MANAGED}
    steps = render(node_loaders, preview=preview)
    assert list(steps) == ["cluster-converged"]
    assert "5 nodes" in args_of(steps["cluster-converged"])["name"]


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param({WORKERS[1]: {"a": _state(None, {"joined": True})}}, id="predicted-change"),
        pytest.param({MASTER: {"a": _state(False)}}, id="failure"),
        pytest.param({BASTION: ["Rendering SLS failed"]}, id="render-error"),
        pytest.param({SALT: None}, id="no-return"),
        pytest.param({SALT: {}}, id="empty-return"),
    ],
)
def test_any_change_failure_or_silence_runs_the_roll_out(node_loaders, spoil):
    preview = {node: {"a": _state()} for node in MANAGED}
    preview.update(spoil)
    preview = {node: ret for node, ret in preview.items() if ret is not None}
    steps = render(node_loaders, preview=preview)
    assert "cluster-converged" not in steps
    assert "cluster-workers" in steps


def test_removed_node_runs_the_roll_out_whatever_the_preview(node_loaders):
    preview = {node: {"a": _state()} for node in MANAGED}
    steps = render(node_loaders, published=[MASTER, GONE], up=[], preview=preview)
    assert "cluster-converged" not in steps
    assert f"cluster-mine-forget-{GONE}" in steps


def test_first_run_skips_the_preview(node_loaders, pillar_root, tmp_path):
    """Told by the bootstrap runner that nothing converged before (pillar
    kubesalt_bootstrap:first_run), orch.cluster rolls out without asking the nodes first, even
    where the preview would have found them converged."""
    root = tmp_path / "pillar"
    shutil.copytree(pillar_root, root)
    master_layer = root / "minions" / "defaults" / f"{SALT.partition('.')[0]}.sls"
    settings = yaml.safe_load(master_layer.read_text(encoding="utf-8"))
    write_sls(master_layer, {**settings, "kubesalt_bootstrap": {"first_run": True}})
    preview = {node: {"a": _state()} for node in MANAGED}
    answers = {"cache.mine": {}, "manage.up": [], "salt.execute": preview}
    loaders = node_loaders(
        SALT,
        module_dirs=[*EXT_DIRS["module_dirs"], str(FAKES)],
        kubesalt_fake_runner=answers,
        pillar_roots={"base": [str(root)]},
    )
    steps = loaders.modules.slsutil.renderer(path=str(ORCH))
    assert "cluster-converged" not in steps
    assert "cluster-workers" in steps
