"""Execution module functions through the Salt loader against a simulated MicroK8s host."""

import base64
import json
import logging
import pathlib
import time

import pytest
import yaml
from salt.exceptions import CommandExecutionError
from salt.exceptions import SaltInvocationError

from tests.support.simminion import free_address

TOKEN = "a1b2c3d4e5f60718293a4b5c6d7e8f90"


@pytest.fixture(scope="module")
def node(microk8s_sim_module):
    # One host for the module: each test leaves it running, with its default addons.
    return microk8s_sim_module(free_address(), install="1.32/stable")


@pytest.fixture
def mk8s(minion_of, node):
    return minion_of(node).modules.microk8s


def test_status_installed_version(mk8s, node):
    status = mk8s.status()
    assert status["running"] is True
    assert status["role"] == "control-plane"
    assert status["high_availability"] == {
        "enabled": True,
        "nodes": [{"address": "127.0.0.1:19001", "role": "voter"}],
    }
    assert status["addons"]["dns"]["status"] == "enabled"
    assert status["addons"]["community"]["version"] == ""
    assert mk8s.installed() == {"channel": "1.32/stable", "version": "v1.32.3", "revision": "7964"}
    assert mk8s.version() == {"version": "1.32.3", "revision": "7964"}
    assert mk8s.status(wait_ready=True, timeout=10)["running"] is True


def test_status_is_cached_and_dropped_after_a_change(mk8s, node):
    node.clear_invocations()
    mk8s.status()
    mk8s.addons()
    mk8s.addon_status("dns")
    assert len(node.invocations()) == 1
    mk8s.enable("metrics-server")
    assert mk8s.addon_status("metrics-server") == "enabled"
    argvs = [entry["argv"] for entry in node.invocations()]
    assert argvs[1] == ["microk8s", "enable", "metrics-server"]
    assert argvs[2][:2] == ["microk8s", "status"]
    mk8s.disable("metrics-server")
    assert mk8s.addon_status("metrics-server") == "disabled"


def test_addons_with_args_and_prompts(mk8s, node):
    assert mk8s.enable("metallb", args="10.64.140.43-10.64.140.49") is True
    assert mk8s.addon_status("metallb") == "enabled"
    assert mk8s.disable("metallb") is True
    assert mk8s.enable("hostpath-storage") is True
    # The disable hook prompts; stdin is closed, so it keeps the data and still succeeds.
    assert mk8s.disable("hostpath-storage") is True
    assert mk8s.addon_status("hostpath-storage") == "disabled"
    with pytest.raises(SaltInvocationError, match="name: refusing to disable ha-cluster"):
        mk8s.disable("ha-cluster")
    with pytest.raises(SaltInvocationError, match="args: metallb needs an address range"):
        mk8s.enable("metallb")


def test_enable_community_addon_before_repo_is_a_clear_error(mk8s, node):
    with pytest.raises(CommandExecutionError, match="argocd"):
        mk8s.enable("argocd")


def test_stop_start(mk8s, node):
    assert mk8s.stop() is True
    assert mk8s.status()["running"] is False
    assert mk8s.start() is True
    assert mk8s.status()["running"] is True


def test_add_node_token_standing_and_fingerprint(mk8s, node, caplog):
    with caplog.at_level(logging.DEBUG):
        created = mk8s.add_node(token=TOKEN, ttl=3600)
    assert created["token"] == TOKEN
    assert created["check"] == mk8s.fingerprint()
    assert created["urls"][0] == f"{node.address}:25000/{TOKEN}/{created['check']}"
    assert TOKEN not in caplog.text
    assert mk8s.token_standing(TOKEN) == "valid"
    assert mk8s.token_standing(TOKEN, margin=7200) == "expiring"
    generated = mk8s.add_node()
    assert len(generated["token"]) == 32
    assert mk8s.token_standing(generated["token"]) == "single-use"
    assert mk8s.join_info() == {"address": f"{node.address}:25000", "fingerprint": created["check"]}


def test_nodes_and_config(mk8s, node):
    nodes = mk8s.nodes()
    assert len(nodes) == 1
    assert nodes[0]["ready"] is True
    assert nodes[0]["roles"] == ["control-plane"]
    assert nodes[0]["address"] == node.address
    assert "microk8s-cluster" in mk8s.config()


def test_extra_san_and_refresh_certs_change_the_fingerprint(mk8s, node):
    before = mk8s.fingerprint()
    assert "k8s.example.com" not in mk8s.extra_sans()
    added = mk8s.add_extra_san("k8s.example.com")
    assert added["changed"] is True
    assert added["extra_sans"] == [*mk8s.extra_sans()[:-1], "k8s.example.com"]
    assert mk8s.add_extra_san("k8s.example.com")["changed"] is False
    template = node.read("var/snap/microk8s/current/certs/csr.conf.template")
    assert "DNS.100 = k8s.example.com\n#MOREIPS\n" in template
    assert mk8s.refresh_certs() is True
    assert mk8s.fingerprint() != before
    with pytest.raises(SaltInvocationError, match="cert:"):
        mk8s.refresh_certs("nope.crt")


def test_remove_node_errors_quote_microk8s(mk8s, node):
    with pytest.raises(CommandExecutionError, match="does not exist in Kubernetes"):
        mk8s.remove_node("ghost")
    with pytest.raises(CommandExecutionError, match="not acting as a node in a cluster"):
        mk8s.leave()


def test_not_installed(minion_of, microk8s_sim):
    bare = microk8s_sim(free_address())
    mk8s = minion_of(bare).modules.microk8s
    assert mk8s.installed() == {}
    with pytest.raises(CommandExecutionError, match="installed"):
        mk8s.status()
    assert mk8s.install("1.32/stable")["channel"] == "1.32/stable"
    assert mk8s.status()["running"] is True
    assert mk8s.refresh("1.33/stable")["channel"] == "1.33/stable"


def test_join_with_burnt_token_and_unreachable_agent(minion_of, microk8s_sim, caplog):
    control_plane = microk8s_sim(free_address(), install="1.32/stable")
    joiner = microk8s_sim(free_address(), install="1.32/stable")
    target = f"{control_plane.address}:25000/{TOKEN}"
    mk8s = minion_of(joiner).modules.microk8s
    with caplog.at_level(logging.DEBUG), pytest.raises(CommandExecutionError) as err:
        mk8s.join(target)
    assert "must register it again" in str(err.value)
    assert TOKEN not in str(err.value)
    control_plane.set_knobs(agent_unreachable=True)
    joiner.clear_invocations()
    with caplog.at_level(logging.DEBUG), pytest.raises(CommandExecutionError) as err:
        mk8s.join(target)
    assert "gave up after 3 attempts" in str(err.value)
    assert [e["argv"][:2] for e in joiner.invocations()] == [["microk8s", "join"]] * 3
    assert TOKEN not in str(err.value)
    assert TOKEN not in caplog.text


def test_help_flag_as_addon_argument_changes_nothing(mk8s, node):
    """Issue 9 item 5: `enable dns args='["--help"]'` returned True; the simulator (like
    MicroK8s) prints a help text and exits 0 without enabling anything."""
    assert mk8s.addon_status("metrics-server") == "disabled"
    node.clear_invocations()
    with pytest.raises(SaltInvocationError, match="args: '--help' makes microk8s print a help"):
        mk8s.enable("metrics-server", args=["--help"])
    assert node.invocations() == []
    assert mk8s.addon_status("metrics-server") == "disabled"


def test_addon_status_on_a_stopped_node_cannot_tell(mk8s):
    assert mk8s.stop() is True
    try:
        with pytest.raises(CommandExecutionError, match="cannot tell whether addon dns"):
            mk8s.addon_status("dns")
    finally:
        assert mk8s.start() is True
    assert mk8s.addon_status("dns") == "enabled"


def test_write_kubeconfig_keeps_the_credential_out_of_salt(mk8s, node, tmp_path, caplog):
    target = tmp_path / "operator.kubeconfig"
    with caplog.at_level(logging.DEBUG):
        result = mk8s.write_kubeconfig(str(target), server="10.0.0.20", name="kubesalt")
    assert result == {
        "path": str(target),
        "mode": "0600",
        "owner": "root",
        "server": "https://10.0.0.20:16443",
        "cluster": "kubesalt",
        "context": "kubesalt",
        "user": "kubesalt-admin",
        "credential": "client certificate",
    }
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    written = yaml.safe_load(target.read_text())
    assert written["clusters"][0]["cluster"]["server"] == "https://10.0.0.20:16443"
    ca = (node.root / "var/snap/microk8s/current/certs/ca.crt").read_bytes()
    assert base64.b64decode(written["clusters"][0]["cluster"]["certificate-authority-data"]) == ca
    key = written["users"][0]["user"]["client-key-data"]
    assert key not in json.dumps(result)
    assert key not in caplog.text
    with pytest.raises(SaltInvocationError, match="path: an absolute file path"):
        mk8s.write_kubeconfig("relative.kubeconfig", server="10.0.0.20")
    with pytest.raises(SaltInvocationError, match="server: not given"):
        mk8s.write_kubeconfig(str(target))
    with pytest.raises(SaltInvocationError, match="https only"):
        mk8s.write_kubeconfig(str(target), server="http://10.0.0.20")


def test_backup_keeps_the_newest_and_restore_brings_objects_back(mk8s, node, tmp_path):
    folder = tmp_path / "backups"
    assert node.run(["microk8s", "kubectl", "create", "namespace", "before"]).returncode == 0
    made = []
    for _ in range(3):
        made.append(mk8s.backup(str(folder), keep=2))
        time.sleep(1.1)  # archive names carry the second
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        pathlib.Path(m["archive"]).name for m in made[1:]
    )
    assert made[2]["removed"] == [made[0]["archive"]]
    assert made[2]["size"] > 0
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    assert oct(pathlib.Path(made[2]["archive"]).stat().st_mode & 0o777) == "0o600"
    assert node.run(["microk8s", "kubectl", "delete", "ns", "before"]).returncode == 0
    back = mk8s.restore(made[2]["archive"])
    assert back["archive"] == made[2]["archive"]
    assert node.run(["microk8s", "kubectl", "get", "ns", "before"]).returncode == 0
    with pytest.raises(SaltInvocationError, match="no such file"):
        mk8s.restore(str(folder / "backup-none.tar.gz"))
    with pytest.raises(SaltInvocationError, match="keep"):
        mk8s.backup(str(folder), keep=0)


def test_restore_from_pillar_says_what_to_run_without_an_archive(mk8s):
    with pytest.raises(CommandExecutionError, match=r"orch\.restore"):
        mk8s.restore_from_pillar()
