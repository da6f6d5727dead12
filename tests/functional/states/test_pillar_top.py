"""The layered pillar (pillar/top.sls) compiled by Salt's own pillar compiler.

Precedence of the layers, missing layers, ids without a dot, ids with glob characters that
must not read another host's pillar, and the derived data (join tokens, mine functions).
"""

import concurrent.futures
import copy
import json
import os
import shutil

import pytest
import salt.pillar

from tests.support.paths import PILLAR_DIR
from tests.support.state_tree import JOIN_SECRET
from tests.support.state_tree import split_example
from tests.support.state_tree import token_for
from tests.support.state_tree import write_sls

WORKER = "k8s-worker-0.lab.kubesalt.test"
MASTER = "k8s-master.lab.kubesalt.test"
# The layers a minion id k8s-worker-0.lab.kubesalt.test reads, lowest first.
LAYERS = [
    "_from_terraform",
    "environments/defaults",
    "environments/lab_kubesalt_test",
    "minions/defaults/k8s-worker-0",
    "minions/lab_kubesalt_test/k8s-worker-0",
]


@pytest.fixture
def layered_root(tmp_path):
    """pillar/ with every layer of k8s-worker-0 replaced by a probe naming itself."""
    root = tmp_path / "pillar"
    shutil.copytree(PILLAR_DIR, root)
    inventory, _ = split_example()
    for layer in LAYERS:
        data = {"kubesalt": {"probe": {"winner": layer, layer: True}}}
        if layer == "_from_terraform":
            data["kubesalt"].update(inventory["kubesalt"])
        if layer.startswith("minions/"):
            data["kubesalt"]["host_only_secret"] = f"only for k8s-worker-0 ({layer})"
        write_sls(root / f"{layer}.sls", data)
    # Another host's files, which a glob id must not read either.
    write_sls(root / "minions/defaults/k8s-worker-1.sls", {"kubesalt": {"probe": {"w1": True}}})
    return root


@pytest.fixture
def compile_pillar(minion_opts, tmp_path):
    secret_file = tmp_path / "join.secret"
    secret_file.write_text(JOIN_SECRET + "\n", encoding="utf-8")

    def compile_(root, minion_id, secret=True):
        opts = copy.deepcopy(minion_opts)
        opts["pillar_roots"] = {"base": [str(root)]}
        opts["kubesalt_join_secret_file"] = str(secret_file if secret is True else secret)
        opts["id"] = minion_id
        pillar = salt.pillar.get_pillar(opts, {"id": minion_id}, minion_id, saltenv="base")
        return pillar.compile_pillar()

    return compile_


def test_every_layer_read_last_wins(layered_root, compile_pillar):
    pillar = compile_pillar(layered_root, WORKER)
    assert "_errors" not in pillar
    probe = pillar["kubesalt"]["probe"]
    assert probe == {"winner": LAYERS[-1], **{layer: True for layer in LAYERS}}


@pytest.mark.parametrize(
    "missing",
    [[layer] for layer in LAYERS] + [LAYERS[1:], LAYERS[2:4], [LAYERS[0], LAYERS[-1]]],
    ids=lambda layers: "missing-" + "+".join(layer.replace("/", ".") for layer in layers),
)
def test_missing_layers_are_skipped(layered_root, compile_pillar, missing):
    for layer in missing:
        (layered_root / f"{layer}.sls").unlink()
    pillar = compile_pillar(layered_root, WORKER)
    assert "_errors" not in pillar
    present = [layer for layer in LAYERS if layer not in missing]
    assert pillar["kubesalt"]["probe"] == {
        "winner": present[-1],
        **{layer: True for layer in present},
    }


def test_id_without_a_dot_reads_its_host_layer_only(layered_root, compile_pillar):
    pillar = compile_pillar(layered_root, "k8s-worker-0")
    assert "_errors" not in pillar
    assert pillar["kubesalt"]["probe"] == {
        "winner": "minions/defaults/k8s-worker-0",
        "_from_terraform": True,
        "environments/defaults": True,
        "minions/defaults/k8s-worker-0": True,
    }


@pytest.mark.parametrize(
    "minion_id",
    [
        "k8s-worker-*.lab.kubesalt.test",
        "k8s-worker-?.lab.kubesalt.test",
        "k8s-worker-[0].lab.kubesalt.test",
        "k8s-worker-[!1].lab.kubesalt.test",
        "*.lab.kubesalt.test",
        "*",
        "k8s-worker-0.lab.*",
        "k8s-worker-0.*",
        "K8S-WORKER-0.lab.kubesalt.test",
        "k8s-worker-0.lab.kubesalt.test ",
    ],
)
def test_glob_id_reads_no_other_host_pillar(layered_root, compile_pillar, minion_id):
    pillar = compile_pillar(layered_root, minion_id)
    assert "_errors" not in pillar
    kubesalt = pillar["kubesalt"]
    # Only the layers every minion reads; nothing of k8s-worker-0, -1 or the environment.
    assert kubesalt["probe"] == {
        "winner": "environments/defaults",
        "_from_terraform": True,
        "environments/defaults": True,
    }
    assert "host_only_secret" not in kubesalt
    assert "join_token" not in kubesalt.get("microk8s", {})
    assert "join_tokens" not in kubesalt.get("microk8s", {})
    assert "mine_functions" not in pillar


def test_naive_top_file_would_leak(layered_root, compile_pillar):
    """The attack the id pattern defends against, shown on a top file without the check."""
    (layered_root / "top.sls").write_text(
        "base:\n  '*':\n    - minions.defaults.{{ opts['id'].partition('.')[0] }}\n",
        encoding="utf-8",
    )
    pillar = compile_pillar(layered_root, "k8s-worker-?.lab.kubesalt.test")
    assert pillar["kubesalt"]["probe"].get("w1") is True


def test_worker_gets_its_own_token_only(pillar_root, compile_pillar):
    microk8s = compile_pillar(pillar_root, WORKER)["kubesalt"]["microk8s"]
    assert microk8s["join_token"] == token_for(WORKER)
    assert "join_tokens" not in microk8s


def test_bootstrap_control_plane_gets_every_node_token(pillar_root, compile_pillar):
    microk8s = compile_pillar(pillar_root, MASTER)["kubesalt"]["microk8s"]
    assert microk8s["join_token"] == token_for(MASTER)
    inventory, _ = split_example()
    others = inventory["kubesalt"]["microk8s"]["workers"]
    assert microk8s["join_tokens"] == {node: token_for(node) for node in others}
    assert all(len(token) == 32 for token in microk8s["join_tokens"].values())


@pytest.mark.parametrize(
    "minion_id",
    ["salt.lab.kubesalt.test", "bastion.lab.kubesalt.test", "stranger.lab.kubesalt.test"],
)
def test_no_token_outside_the_cluster(pillar_root, compile_pillar, minion_id):
    pillar = compile_pillar(pillar_root, minion_id)
    assert "join_token" not in pillar["kubesalt"].get("microk8s", {})
    assert "join_tokens" not in pillar["kubesalt"].get("microk8s", {})
    assert JOIN_SECRET not in json.dumps(pillar)


def test_secret_created_on_first_compile_then_kept(pillar_root, compile_pillar, tmp_path):
    """No salt_master state has run: the first compilation creates the secret (0600 in a
    0700 directory, owned by the user compiling, i.e. the master's), later ones read it."""
    secret_file = tmp_path / "fresh" / "kubesalt" / "join.secret"
    first = compile_pillar(pillar_root, MASTER, secret=secret_file)
    assert "_errors" not in first
    secret = secret_file.read_text(encoding="ascii").strip()
    assert len(secret) == 64
    assert oct(secret_file.stat().st_mode & 0o777) == "0o600"
    assert oct(secret_file.parent.stat().st_mode & 0o777) == "0o700"
    assert secret_file.stat().st_uid == os.geteuid()
    tokens = first["kubesalt"]["microk8s"]["join_tokens"]
    assert tokens[WORKER] == token_for(WORKER, secret)
    again = compile_pillar(pillar_root, WORKER, secret=secret_file)
    assert again["kubesalt"]["microk8s"]["join_token"] == tokens[WORKER]
    assert secret_file.read_text(encoding="ascii").strip() == secret
    assert secret not in json.dumps(first) + json.dumps(again)
    assert [p.name for p in secret_file.parent.iterdir()] == ["join.secret"]


def test_concurrent_first_compiles_agree_on_one_secret(pillar_root, compile_pillar, tmp_path):
    secret_file = tmp_path / "race" / "join.secret"
    # Salt creates its own pillar/fileserver cache directories on a first compile without
    # exist_ok (FileExistsError when threads race there); a compile against another secret
    # creates them first, so the threads race on the join secret only.
    compile_pillar(pillar_root, WORKER, secret=tmp_path / "warm-up" / "join.secret")
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        pillars = list(
            pool.map(lambda _: compile_pillar(pillar_root, WORKER, secret=secret_file), range(8))
        )
    assert len({p["kubesalt"]["microk8s"]["join_token"] for p in pillars}) == 1
    assert [p.name for p in secret_file.parent.iterdir()] == ["join.secret"]


def test_no_token_when_the_secret_cannot_be_read(pillar_root, compile_pillar, tmp_path, caplog):
    unreadable = tmp_path / "not-a-file"
    unreadable.mkdir()
    pillar = compile_pillar(pillar_root, MASTER, secret=unreadable)
    assert "_errors" not in pillar
    assert "join_token" not in pillar["kubesalt"]["microk8s"]
    assert "mine_functions" in pillar
    assert f"cannot read or create the join secret {unreadable}" in caplog.text


def as_dict(items):
    merged = {}
    for item in items:
        merged.update(item)
    return merged


def test_mine_functions_readable_by_cluster_members_only(pillar_root, compile_pillar):
    inventory, _ = split_example()
    nodes = sorted(inventory["kubesalt"]["nodes"])
    microk8s = inventory["kubesalt"]["microk8s"]
    master_mine = compile_pillar(pillar_root, MASTER)["mine_functions"]
    assert as_dict(master_mine["kubesalt_private_ip"]) == {
        "mine_function": "network.ip_addrs",
        "cidr": "10.1.0.0/16",
        "allow_tgt": nodes,
        "allow_tgt_type": "list",
    }
    assert as_dict(master_mine["microk8s_join_info"]) == {
        "mine_function": "microk8s.join_info",
        "address": "10.1.0.10",
        "allow_tgt": microk8s["control_planes"] + microk8s["workers"],
        "allow_tgt_type": "list",
    }
    worker_mine = compile_pillar(pillar_root, WORKER)["mine_functions"]
    assert set(worker_mine) == {"kubesalt_private_ip"}
    assert "mine_functions" not in compile_pillar(pillar_root, "stranger.lab.kubesalt.test")


def test_without_inventory_nothing_is_derived(layered_root, compile_pillar):
    (layered_root / "_from_terraform.sls").unlink()
    pillar = compile_pillar(layered_root, WORKER)
    assert "_errors" not in pillar
    assert "mine_functions" not in pillar
    assert "microk8s" not in pillar["kubesalt"]


def test_resolvers_are_the_inventorys_in_the_lab_domain(tmp_path, compile_pillar):
    """The subnet's DNS servers reach core.resolv through the inventory (Terraform writes
    dns_nameservers there, `kubesalt lab up` its resolver): the lab domain's environment
    layer names none, so a lab-cloud instance (same domain as a `lab up` lab, another
    resolver) is not pointed at an address where nothing answers."""
    root = tmp_path / "pillar"
    shutil.copytree(PILLAR_DIR, root)
    inventory, _ = split_example()
    inventory["kubesalt"]["resolv"] = {"nameservers": ["10.1.200.0"]}
    write_sls(root / "_from_terraform.sls", inventory)
    pillar = compile_pillar(root, WORKER)
    assert "_errors" not in pillar
    assert pillar["kubesalt"]["resolv"]["nameservers"] == ["10.1.200.0"]
