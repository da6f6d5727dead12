"""Every SLS renders for every role with the example pillar (MetalK8s style), the MAAS roles
and each pillar branch of the maas tree included; the top file assigns states by role; the
reactor renders the reaction the master runs; a bad pillar stops a run while it renders."""

import json
import shutil

import pytest
import yaml

from tests.support.paths import EXT_DIRS
from tests.support.paths import PILLAR_DIR
from tests.support.paths import SALT_DIR
from tests.support.state_tree import EXAMPLE
from tests.support.state_tree import FAKE_MODULES
from tests.support.state_tree import SALT
from tests.support.state_tree import args_of
from tests.support.state_tree import render_cluster as render
from tests.support.state_tree import split_example
from tests.support.state_tree import token_for
from tests.support.state_tree import write_sls

STATES_DIR = SALT_DIR / "states"
FAKES = FAKE_MODULES
# Our modules, then a test double of ``mine`` (masterless mine.get sees only its own data).
WITH_FAKE_MINE = [*EXT_DIRS["module_dirs"], str(FAKES / "mine_only")]
# The reactor (rendered on the master with an event: at the end of this file) and the
# orchestrations (test_orchestration*.py, tests/functional/maas/test_maas_orch.py) aside.
OWN_TREES = ("core", "bastion", "salt_master", "microk8s", "maas")
SLS_NAMES = sorted(
    str(path.relative_to(STATES_DIR).with_suffix("")).replace("/", ".").removesuffix(".init")
    for tree in OWN_TREES
    for path in (STATES_DIR / tree).rglob("*.sls")
)
NODES = sorted(EXAMPLE["kubesalt"]["nodes"])
MASTER = "k8s-master.lab.kubesalt.test"
WORKER = "k8s-worker-0.lab.kubesalt.test"
# A fingerprint of digits only: YAML would read it as a number unless the SLS quotes it.
JOIN_INFO = {MASTER: {"address": "10.1.0.10:25000", "fingerprint": "866516458634"}}

EXPECTED_TOP = {
    "salt.lab.kubesalt.test": ["core", "salt_master"],
    "bastion.lab.kubesalt.test": ["core", "bastion"],
    MASTER: ["core", "microk8s.master"],
    WORKER: ["core", "microk8s.joined"],
    "k8s-worker-1.lab.kubesalt.test": ["core", "microk8s.joined"],
}


def by_function(high, function):
    """``{state id: {arg: value}}`` of the states calling ``module.function``."""
    module, _, fun = function.partition(".")
    found = {}
    for state_id, body in high.items():
        if module in body and fun in body[module]:
            args = {}
            for item in body[module]:
                if isinstance(item, dict):
                    args.update(item)
            args.setdefault("name", state_id)
            args.pop("order", None)
            found[state_id] = args
    return found


def test_every_own_sls_is_listed():
    assert {"core", "bastion", "salt_master", "microk8s", "microk8s.master"} <= set(SLS_NAMES)


@pytest.mark.parametrize("node_id", NODES)
def test_every_sls_renders_for_every_role(node_loaders, node_id):
    # One render of every SLS at once per role (a render error names the SLS at fault).
    high = node_loaders(node_id).modules.state.show_sls(",".join(SLS_NAMES))
    assert isinstance(high, dict), high
    rendered = {body["__sls__"] for body in high.values()}
    # Every SLS with states of its own renders some (init files only include; maas.baremetal
    # has one state per bare-metal machine, none in the example pillar: rendered below).
    assert rendered == {
        name
        for name in SLS_NAMES
        if name not in ("core", "bastion", "microk8s", "maas", "maas.baremetal")
    }


REQUISITES = ("require", "watch", "onchanges", "onfail", "prereq", "listen", "use")


def _calls(high):
    """``(state id, module, {arg: value})`` of every state call in ``high``."""
    for state_id, body in high.items():
        for module, items in body.items():
            if not module.startswith("__"):
                args = {k: v for item in items if isinstance(item, dict) for k, v in item.items()}
                yield state_id, module, args


def _requisite_targets(args):
    """``(requisite, module, target)`` of every ``{module: target}`` requisite in ``args``."""
    for key, targets in args.items():
        if key.removesuffix("_in").removesuffix("_any") not in REQUISITES:
            continue
        for target in targets if isinstance(targets, list) else [targets]:
            if isinstance(target, dict):
                for module, name in target.items():
                    yield key, module, name


def dangling_requisites(high):
    """``(state id, requisite, {module: target})`` of every requisite naming no state of
    ``high`` (by ID or ``name``) that calls that module: Salt fails such a state at run time
    only ("Referenced state does not exist for requisite"), after a render has passed."""
    names = {}
    for state_id, module, args in _calls(high):
        names.setdefault(module, set()).update({state_id, args.get("name", state_id)})
    return [
        (state_id, key, {module: target})
        for state_id, _, args in _calls(high)
        for key, module, target in _requisite_targets(args)
        if module not in ("sls", "id") and target not in names.get(module, set())
    ]


@pytest.mark.parametrize("node_id", NODES)
def test_every_requisite_names_an_existing_state(node_loaders, node_id):
    # e.g. `require: - kubesalt: core-sshd-host-keys` after the state moved to host_security
    # rendered fine and failed every highstate.
    high = node_loaders(node_id).modules.state.show_highstate()
    assert isinstance(high, dict), high
    assert dangling_requisites(high) == []


def test_baremetal_sls_deploys_each_machine_with_user_data_from_pillar(node_loaders):
    machines = {
        "k8s-bm-0.lab.kubesalt.test": {"machine": "fair-ant"},
        "k8s-bm-1.lab.kubesalt.test": {"machine": "calm-fox"},
    }
    pillar = {"kubesalt": {"baremetal": {"machines": machines, "deploy_timeout": 600}}}
    high = node_loaders(MASTER).modules.state.show_sls("maas.baremetal", pillar=pillar)
    assert isinstance(high, dict), high
    deployed = by_function(high, "maas.machine_deployed")
    assert deployed == {
        f"maas-baremetal-deployed-{minion_id}": {
            "name": machine["machine"],
            "distro_series": None,
            "user_data_pillar": f"maas_baremetal:user_data:{minion_id}",
            "timeout": 600,
        }
        for minion_id, machine in machines.items()
    }


@pytest.mark.parametrize("node_id", NODES)
def test_top_assigns_states_by_role(node_loaders, node_id):
    top = node_loaders(node_id).modules.state.show_top()
    assert list(top["base"]) == EXPECTED_TOP[node_id]


def test_highstate_renders_for_every_role(node_loaders):
    for node_id in NODES:
        high = node_loaders(node_id).modules.state.show_highstate()
        assert isinstance(high, dict), (node_id, high)
        assert "core-sshd-config" in high


def test_sshd_config_checked_by_sshd_before_it_replaces_the_file(node_loaders):
    args = by_function(node_loaders(WORKER).modules.state.show_sls("core.sshd"), "file.managed")
    config = args["core-sshd-config"]
    assert config["check_cmd"] == "/usr/sbin/sshd -t -f"
    assert config["tmp_ext"] == ".conf"
    assert config["context"]["sshd"]["port"] == 22


def test_hosts_lists_every_node_with_its_private_address(node_loaders):
    args = by_function(node_loaders(WORKER).modules.state.show_sls("core.hosts"), "host.only")
    got = {a["name"]: a["hostnames"] for a in args.values()}
    assert got == {
        node["private_ip"]: [node_id, node_id.partition(".")[0]]
        for node_id, node in EXAMPLE["kubesalt"]["nodes"].items()
    }


def test_hosts_prefer_the_address_published_in_the_mine(node_loaders):
    loaders = node_loaders(
        WORKER,
        module_dirs=WITH_FAKE_MINE,
        kubesalt_fake_mine={"kubesalt_private_ip": {MASTER: ["10.0.0.20", "10.1.0.77"]}},
    )
    args = by_function(loaders.modules.state.show_sls("core.hosts"), "host.only")
    assert args[f"core-hosts-{MASTER}"]["name"] == "10.1.0.77"


def test_bootstrap_control_plane_registers_every_other_node_token(node_loaders):
    loaders = node_loaders(MASTER)
    high = loaders.modules.state.show_sls("microk8s.master")
    registered = by_function(high, "microk8s.token_registered")
    workers = EXAMPLE["kubesalt"]["microk8s"]["workers"]
    assert {args["name"]: args["token_pillar"] for args in registered.values()} == {
        node: f"kubesalt:microk8s:join_tokens:{node}" for node in workers
    }
    assert all(args["ttl"] == 3600 for args in registered.values())
    # The state reads each token from the pillar: none is in the rendered SLS (which
    # show_sls, debug logs and job data would show), the pillar does carry them.
    rendered = json.dumps(high)
    # Salt 3008 masks pillar values returned to Python callers unless asked (unmask).
    pillar = loaders.modules.pillar.items(unmask=True)
    for node in workers:
        assert token_for(node) not in rendered
        assert pillar["kubesalt"]["microk8s"]["join_tokens"][node] == token_for(node)


def test_addons_from_pillar_with_current_names(node_loaders):
    high = node_loaders(MASTER).modules.state.show_sls("microk8s.addons")
    enabled = {a["name"] for a in by_function(high, "microk8s.addon_enabled").values()}
    disabled = {a["name"] for a in by_function(high, "microk8s.addon_disabled").values()}
    assert enabled == {
        "dns",
        "hostpath-storage",
        "helm3",
        "ha-cluster",
        "metrics-server",
        "observability",
    }
    assert disabled == {"registry"}


def test_floating_ip_and_load_balancer_sans_on_control_planes_only(node_loaders):
    master = node_loaders(MASTER).modules.state.show_sls("microk8s.base")
    sans = by_function(master, "microk8s.extra_san_present")
    assert sorted(args["name"] for args in sans.values()) == ["10.0.0.20", "10.0.0.30"]
    worker = node_loaders(WORKER).modules.state.show_sls("microk8s.base")
    assert not by_function(worker, "microk8s.extra_san_present")


def test_worker_joins_through_the_control_planes_from_the_mine(node_loaders):
    loaders = node_loaders(
        WORKER, module_dirs=WITH_FAKE_MINE, kubesalt_fake_mine={"microk8s_join_info": JOIN_INFO}
    )
    high = loaders.modules.state.show_sls("microk8s.joined")
    assert token_for(WORKER) not in json.dumps(high)
    joined = by_function(high, "microk8s.cluster_joined")
    assert joined == {
        "microk8s-joined-cluster": {
            "name": "10.1.0.10:25000",
            "token_pillar": "kubesalt:microk8s:join_token",
            "worker": True,
            # One certificate check per control plane (its address as the key).
            "fingerprint": {"10.1.0.10": "866516458634"},
            "require": [{"microk8s": "microk8s-base-running"}],
        }
    }


def test_join_waits_for_the_mine(node_loaders):
    high = node_loaders(WORKER).modules.state.show_sls("microk8s.joined")
    failing = by_function(high, "test.fail_without_changes")["microk8s-joined-cluster"]
    assert f"the join address of {MASTER} is not in the mine yet" in failing["comment"]
    assert not by_function(high, "microk8s.cluster_joined")


@pytest.fixture(scope="module")
def lab_pillar_root(tmp_path_factory):
    """pillar/ with the example inventory only: the lab layer is the last word."""
    root = tmp_path_factory.mktemp("lab-pillar")
    shutil.copytree(PILLAR_DIR, root, dirs_exist_ok=True)
    inventory, _ = split_example()
    write_sls(root / "_from_terraform.sls", inventory)
    return root


def test_lab_layer_needs_no_network_and_leaves_global_sysctls(node_loaders, lab_pillar_root):
    loaders = node_loaders(WORKER, pillar_roots={"base": [str(lab_pillar_root)]})
    high = loaders.modules.state.show_sls("core")
    installed = by_function(high, "pkg.installed")["core-packages-installed"]
    assert installed["refresh"] is False
    assert "sudo" not in installed["pkgs"]
    assert not by_function(high, "pkg.uptodate")
    settings = {args["name"] for args in by_function(high, "sysctl.present").values()}
    assert settings == {
        "net.ipv6.conf.all.disable_ipv6",
        "net.ipv6.conf.default.disable_ipv6",
        "net.ipv6.conf.lo.disable_ipv6",
    }


def test_cloud_environment_upgrades_packages(node_loaders, tmp_path_factory):
    root = tmp_path_factory.mktemp("cloud-pillar")
    shutil.copytree(PILLAR_DIR, root, dirs_exist_ok=True)
    inventory, _ = split_example()
    write_sls(root / "_from_terraform.sls", inventory)
    loaders = node_loaders("k8s-worker-0.cloud.example", pillar_roots={"base": [str(root)]})
    high = loaders.modules.state.show_sls("core.packages")
    assert by_function(high, "pkg.uptodate")
    assert by_function(high, "pkg.installed")["core-packages-installed"]["refresh"] is True


BAD_LAYER = {
    "networks": {"private_cidr": "10.1.0.0/33"},
    "microk8s": {"addons": {"kubeflow": True}},
    "users": {"carol": {"sudo": True}},
}
BAD_KEYS = [
    "kubesalt:networks:private_cidr",
    "kubesalt:microk8s:addons:kubeflow",
    "kubesalt:users:carol:ssh_keys",
]


def test_bad_pillar_stops_the_run_before_any_change(node_loaders, tmp_path_factory):
    root = tmp_path_factory.mktemp("bad-pillar")
    shutil.copytree(PILLAR_DIR, root, dirs_exist_ok=True)
    inventory, _ = split_example()
    write_sls(root / "_from_terraform.sls", inventory)
    write_sls(root / "minions" / "defaults" / "k8s-worker-0.sls", {"kubesalt": BAD_LAYER})
    loaders = node_loaders(WORKER, pillar_roots={"base": [str(root)]})
    ret = loaders.modules.state.sls("core.locale", test=True).raw
    assert isinstance(ret, list), ret  # render errors: no state was even considered
    (error,) = ret
    assert "nothing was changed" in error
    for key in BAD_KEYS:  # every problem at once, each naming its pillar key
        assert f"- {key}: " in error, error


def test_minion_id_failing_the_pattern_stops_the_run(node_loaders):
    loaders = node_loaders("k8s-worker-?.lab.kubesalt.test")
    ret = loaders.modules.state.sls("core.locale", test=True).raw
    assert isinstance(ret, list), ret
    assert any("minion id: 'k8s-worker-?.lab.kubesalt.test' does not match" in e for e in ret)


# Pillar values with YAML syntax in them: each SLS renders them with `| json`, so they reach
# the state as the same string (no YAML error, no extra state argument).
TRICKY_PATH = "/srv/kubesalt/a: b #c"


def host_layer_root(tmp_path_factory, layer, node_id=WORKER):
    """pillar/ with the example inventory and settings plus ``layer`` on ``node_id``'s own
    host-and-environment layer (the last word)."""
    root = tmp_path_factory.mktemp("layered-pillar")
    shutil.copytree(PILLAR_DIR, root, dirs_exist_ok=True)
    inventory, settings = split_example()
    write_sls(root / "_from_terraform.sls", inventory)
    host, _, domain = node_id.partition(".")
    write_sls(root / "minions" / "defaults" / f"{host}.sls", settings)
    write_sls(root / "minions" / domain.replace(".", "_") / f"{host}.sls", layer)
    return root


def test_pillar_scalars_with_yaml_syntax_reach_the_states_unchanged(node_loaders, tmp_path_factory):
    layer = {
        "kubesalt": {
            "files": {TRICKY_PATH: {"contents": "x: y\n- z\n", "user": "root"}},
            "users": {"carol": {"ssh_keys": [SSH_KEY], "shell": "/bin/sh"}},
        }
    }
    root = host_layer_root(tmp_path_factory, layer)
    loaders = node_loaders(WORKER, pillar_roots={"base": [str(root)]})
    high = loaders.modules.state.show_sls("core.file_transfer,core.users")
    assert isinstance(high, dict), high
    managed = by_function(high, "file.managed")
    assert managed[f"core-file-transfer-{TRICKY_PATH}"]["name"] == TRICKY_PATH
    assert managed[f"core-file-transfer-{TRICKY_PATH}"]["contents"] == "x: y\n- z\n"
    user = by_function(high, "user.present")["core-users-carol-present"]
    assert user["shell"] == "/bin/sh"
    assert user["password"] == "*"


SSH_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGxQmMw5vbzEtkz8ff3a2Cgdq1RcW0SzHZdxvd4lzN4K carol@example"
)
INJECTIONS = [
    pytest.param(
        {"users": {"carol": {"ssh_keys": [SSH_KEY], "shell": "/bin/bash\n    - password: x"}}},
        "kubesalt:users:carol:shell",
        id="user-shell-injects-a-state-argument",
    ),
    pytest.param({"locale": "C.UTF-8\nLC_ALL: x"}, "kubesalt:locale", id="locale-with-a-newline"),
    pytest.param({"locale": "en_US.UTF-8: x"}, "kubesalt:locale", id="locale-with-a-colon"),
    pytest.param(
        {"files": {"/etc/a\n    - mode: 0777": {"contents": "x"}}},
        "kubesalt:files:/etc/a\\n    - mode: 0777",
        id="file-path-with-a-newline",
    ),
    pytest.param(
        {"sshd": {"allow_users": ["alice\nPermitRootLogin yes"]}},
        "kubesalt:sshd:allow_users:0",
        id="sshd-allow-users-injects-a-config-line",
    ),
    pytest.param(
        {"master": {"join_secret_file": "/etc/salt/j; touch /tmp/pwned"}},
        "kubesalt:master:join_secret_file",
        id="join-secret-file-with-shell-syntax",
    ),
    pytest.param(
        {"users": {"carol": {"ssh_keys": [""]}}},
        "kubesalt:users:carol:ssh_keys:0",
        id="empty-ssh-key",
    ),
    pytest.param(
        {"microk8s": {"addons": {"metallb": True}}},
        "kubesalt:microk8s:addons:metallb:args",
        id="metallb-without-its-ranges",
    ),
    pytest.param(
        {"sysctl": {"net.ipv4.no_such_setting": 1}},
        "kubesalt:sysctl:net.ipv4.no_such_setting",
        id="sysctl-this-kernel-lacks",
    ),
]


def assert_refused(key, *returns):
    """Each return is a render error (no state was even considered) naming ``key``; returns
    the error texts."""
    errors = []
    for ret in returns:
        assert isinstance(ret, list), ret
        error = "\n".join(ret)
        assert "nothing was changed" in error, error
        assert f"- {key}: " in error, error
        errors.append(error)
    return errors


@pytest.mark.parametrize(("layer", "key"), INJECTIONS)
def test_pillar_injection_is_refused_naming_the_key(node_loaders, tmp_path_factory, layer, key):
    root = host_layer_root(tmp_path_factory, {"kubesalt": layer})
    loaders = node_loaders(WORKER, pillar_roots={"base": [str(root)]})
    assert_refused(
        key,
        loaders.modules.state.show_sls("core,salt_master"),
        loaders.modules.state.sls("core.locale", test=True).raw,
    )


def test_bad_pillar_changes_nothing_on_a_real_run(node_loaders, tmp_path_factory, tmp_path):
    """A real run (not test=True) of an SLS whose own data is fine, with a bad value
    elsewhere in the pillar: the run stops while it renders, the file is not written."""
    target = tmp_path / "written-only-if-the-pillar-is-valid"
    layer = {
        "kubesalt": {
            "files": {str(target): {"contents": "x"}},
            "users": {"carol": {"ssh_keys": [SSH_KEY], "shell": "/bin/bash\n - home: /"}},
        }
    }
    root = host_layer_root(tmp_path_factory, layer)
    loaders = node_loaders(WORKER, pillar_roots={"base": [str(root)]})
    ret = loaders.modules.state.sls("core.file_transfer").raw
    assert isinstance(ret, list), ret
    assert "- kubesalt:users:carol:shell: " in "\n".join(ret)
    assert not target.exists()


def test_maas_pillar_values_with_yaml_syntax_reach_the_states_unchanged(
    node_loaders, tmp_path_factory
):
    layer = {
        "maas": {
            "admin": {"password": "pa: ss #1", "email": "ops+maas@example.com"},
            "db": {"password": "p #w d!"},
            "rack": {"secret": "00ff" * 8},
        }
    }
    root = host_layer_root(tmp_path_factory, layer)
    loaders = node_loaders(WORKER, pillar_roots={"base": [str(root)]})
    high = loaders.modules.state.show_sls("maas.region,maas.rack,maas.db")
    assert isinstance(high, dict), high
    admin = by_function(high, "maas.admin_present")["maas-region-admin"]
    assert admin["password"] == "pa: ss #1"
    assert admin["email"] == "ops+maas@example.com"
    region = by_function(high, "maas.region_initialized")["maas-region-initialized"]
    assert region["database_uri"] == "postgres://maas:p #w d!@10.1.0.30:5432/maasdb"
    # The shared secret is never rendered into the SLS: the state reads it from the pillar.
    rack = by_function(high, "maas.rack_registered")["maas-rack-registered"]
    assert "secret" not in rack and "00ff" * 8 not in json.dumps(high)
    assert rack["secret_pillar"] == "maas:rack:secret"
    assert rack["api_key_pillar"] == "kubesalt:maas:api_key"


def test_racks_and_the_control_plane_read_the_masters_pillar_by_default(node_loaders):
    high = node_loaders(WORKER).modules.state.show_sls("maas.rack,maas.apikey")
    assert isinstance(high, dict), high
    rack = by_function(high, "maas.rack_registered")["maas-rack-registered"]
    assert rack["secret_pillar"] == "kubesalt:maas:shared_secret"
    assert rack["api_key_pillar"] == "kubesalt:maas:api_key"
    apikey = by_function(high, "maas.apikey_exported")["maas-apikey-exported"]
    assert apikey["api_key_pillar"] == "kubesalt:maas:api_key"


MAAS_INJECTIONS = [
    pytest.param(
        {"admin": {"email": "a@b.c\n    - password: x"}},
        "maas:admin:email",
        id="admin-email-injects-a-state-argument",
    ),
    pytest.param(
        {"db": {"password": "pw@evil-host"}}, "maas:db:password", id="db-password-breaks-the-uri"
    ),
    pytest.param({"region": {"mode": "rack"}}, "maas:region:mode", id="unknown-init-mode"),
    pytest.param({"rack": {"secret": "not hex"}}, "maas:rack:secret", id="rack-secret-not-hex"),
    pytest.param(
        {"selections": [{"os": "ubuntu"}]},
        "maas:selections:0:release",
        id="selection-without-release",
    ),
]


@pytest.mark.parametrize(("layer", "key"), MAAS_INJECTIONS)
def test_bad_maas_pillar_is_refused_naming_the_key(node_loaders, tmp_path_factory, layer, key):
    root = host_layer_root(tmp_path_factory, {"maas": layer})
    loaders = node_loaders(WORKER, pillar_roots={"base": [str(root)]})
    for error in assert_refused(
        key,
        loaders.modules.state.show_sls("maas.db,maas.region,maas.rack,maas.sync,maas.apikey"),
        loaders.modules.state.sls("maas.rack", test=True).raw,
    ):
        assert "pw@evil-host" not in error  # a password is never quoted


def test_orchestration_quotes_minion_ids(node_loaders):
    """A minion id from the mine (a node that left the inventory) with YAML syntax in it
    stays one target, and adds no step."""
    odd = "old-node: x #y"
    steps = render(node_loaders, published=[odd], up=[odd])
    assert args_of(steps[f"cluster-leave-{odd}"])["tgt"] == odd
    assert args_of(steps[f"cluster-mine-forget-{odd}"])["tgt"] == odd


def test_launch_config_pins_networks_and_node_ip(node_loaders):
    # Issue 11 defects 7 and 9: MicroK8s is installed with the pillar's pod and service
    # networks (its own pod default is the private network) and the kubelet on the private
    # address (else the default-route interface's, public on the first control plane).
    high = node_loaders(MASTER).modules.state.show_sls("microk8s.base")
    launch = by_function(high, "file.serialize")["microk8s-base-launch-config"]
    assert launch["name"] == "/etc/microk8s.yaml"
    assert launch["dataset"] == {
        "version": "0.1.0",
        "extraCNIEnv": {
            "IPv4_SUPPORT": True,
            "IPv4_CLUSTER_CIDR": "10.244.0.0/16",
            "IPv4_SERVICE_CIDR": "10.152.183.0/24",
        },
        "extraSANs": ["10.152.183.1"],
        "extraKubeletArgs": {
            "--cluster-dns": "10.152.183.10",
            "--node-ip": EXAMPLE["kubesalt"]["nodes"][MASTER]["private_ip"],
        },
    }
    installed = by_function(high, "microk8s.installed")["microk8s-base-installed"]
    assert {"file": "microk8s-base-launch-config"} in installed["require"]


# --- the MAAS roles and the MAAS tree's pillar branches ------------------------------------

REGION = "maas-region.lab.kubesalt.test"
RACK = "maas-rack-0.lab.kubesalt.test"
MAAS_NODES = {
    REGION: {"roles": ["maas_db", "maas_region"], "private_ip": "10.1.0.30"},
    RACK: {"roles": ["maas_rack"], "private_ip": "10.1.0.31"},
}
EXPECTED_MAAS_TOP = {
    REGION: ["core", "maas.db", "maas"],
    RACK: ["core", "maas.rack"],
    # The first control plane exports the API key when the inventory has a region.
    MASTER: ["core", "microk8s.master", "maas.apikey"],
    WORKER: ["core", "microk8s.joined"],
}
# The SLS each role's highstate renders states from (init files only include).
EXPECTED_MAAS_SLS = {
    REGION: {"maas.db", "maas.region", "maas.sync"},
    RACK: {"maas.rack"},
    MASTER: {"maas.apikey"},
    WORKER: set(),
}


@pytest.fixture(scope="module")
def maas_pillar_root(tmp_path_factory):
    """pillar/ with the example inventory plus a MAAS region (and database) and a rack, and
    the example settings (kubesalt and maas) on every node."""
    root = tmp_path_factory.mktemp("maas-pillar")
    shutil.copytree(PILLAR_DIR, root, dirs_exist_ok=True)
    inventory, settings = split_example()
    inventory["kubesalt"]["nodes"].update(MAAS_NODES)
    write_sls(root / "_from_terraform.sls", inventory)
    settings = {**settings, "maas": EXAMPLE["maas"]}
    for node_id in inventory["kubesalt"]["nodes"]:
        write_sls(root / "minions" / "defaults" / f"{node_id.partition('.')[0]}.sls", settings)
    return root


@pytest.mark.parametrize("node_id", sorted(EXPECTED_MAAS_TOP))
def test_top_and_highstate_of_every_maas_role(node_loaders, maas_pillar_root, node_id):
    loaders = node_loaders(node_id, pillar_roots={"base": [str(maas_pillar_root)]})
    assert list(loaders.modules.state.show_top()["base"]) == EXPECTED_MAAS_TOP[node_id]
    high = loaders.modules.state.show_highstate()
    assert isinstance(high, dict), high
    maas_sls = {body["__sls__"] for body in high.values() if body["__sls__"].startswith("maas")}
    assert maas_sls == EXPECTED_MAAS_SLS[node_id]


# Each pillar branch of the maas tree (Jinja `if` on a pillar value), off and on.
MAAS_BRANCHES = [
    pytest.param({}, {"maas-region-handoff": False}, id="no-handoff"),
    pytest.param(
        {"kubesalt": {"maas": {"handoff": {"path": "kubesalt/maas-handoff.json"}}}},
        {"maas-region-handoff": True},
        id="handoff-to-the-master",
    ),
    pytest.param({}, {"maas-sync-boot-source": False}, id="default-boot-source"),
    pytest.param(
        {"maas": {"boot_source": {"url": "http://mirror.example/ephemeral-v3/stable/"}}},
        {"maas-sync-boot-source": True},
        id="mirrored-boot-source",
    ),
]


@pytest.mark.parametrize(("layer", "present"), MAAS_BRANCHES)
def test_maas_region_renders_under_each_pillar_branch(
    node_loaders, tmp_path_factory, layer, present
):
    root = host_layer_root(tmp_path_factory, layer, node_id=REGION)
    inventory = yaml.safe_load((root / "_from_terraform.sls").read_text())
    inventory["kubesalt"]["nodes"].update(MAAS_NODES)
    write_sls(root / "_from_terraform.sls", inventory)
    loaders = node_loaders(REGION, pillar_roots={"base": [str(root)]})
    high = loaders.modules.state.show_sls("maas.db,maas,maas.rack")
    assert isinstance(high, dict), high
    assert {state_id: state_id in high for state_id in present} == present


# --- the reactor tree (rendered on the master with the event's tag and data) ----------------

REACTOR_SLS = sorted((STATES_DIR / "reactor").rglob("*.sls"))
ODD_IDS = ["k8s-worker-0.lab.kubesalt.test", "odd: id #x", 'it\'s "quoted" - x']


def test_every_reactor_sls_is_rendered_here():
    assert [path.name for path in REACTOR_SLS] == ["minion_start.sls"]


@pytest.mark.parametrize("minion_id", [*ODD_IDS, None])
def test_minion_start_reaction_runs_the_bootstrap_runner_with_the_trigger(node_loaders, minion_id):
    """What Salt's reactor renders (salt.utils.reactor: the file with ``tag`` and ``data``)
    for a minion's start event: one runner call, whose runner exists, with the minion id
    as its trigger unchanged (YAML syntax in it stays data), ``unknown`` without one."""
    data = {"id": minion_id} if minion_id is not None else {}
    tag = f"salt/minion/{minion_id}/start"
    high = node_loaders(SALT).modules.slsutil.renderer(
        path=str(STATES_DIR / "reactor" / "minion_start.sls"), tag=tag, data=data
    )
    (reaction,) = high.values()
    ((function, args),) = reaction.items()
    kind, runner, name = function.split(".")
    assert (kind, name) == ("runner", "run")
    assert (SALT_DIR / "_runners" / f"{runner}.py").is_file()
    assert args == [{"args": [{"trigger": minion_id if minion_id is not None else "unknown"}]}]


def test_settings_are_computed_once_per_state_run(node_loaders, tmp_path_factory):
    """map.jinja's ``cluster.settings``: defaults.yaml with the pillar merged over it, kept in
    the loader's context (one state run) and never handed over to the next run; redacted
    outside a template, as pillar.get is."""
    states = tmp_path_factory.mktemp("states")
    shutil.copytree(STATES_DIR, states, dirs_exist_ok=True)
    pillar = tmp_path_factory.mktemp("inventory-only-pillar")
    shutil.copytree(PILLAR_DIR, pillar, dirs_exist_ok=True)
    inventory, _ = split_example()
    write_sls(pillar / "_from_terraform.sls", inventory)
    loaders = node_loaders(
        WORKER, file_roots={"base": [str(states)]}, pillar_roots={"base": [str(pillar)]}
    )

    def in_template(expression):
        """``expression`` over the settings, rendered as an SLS file renders it."""
        text = loaders.modules.slsutil.renderer(
            string="{%- set s = salt['cluster.settings']() %}{{ (" + expression + ") | json }}",
            default_renderer="jinja",
        )
        return json.loads(text)

    defaults = yaml.safe_load((STATES_DIR / "defaults.yaml").read_text())["kubesalt"]
    assert in_template("s.motd") == defaults["motd"]
    assert in_template("s.nodes") == inventory["kubesalt"]["nodes"]  # the pillar over them
    assert in_template("s.motd.update({'issue': 'changed'}) or s.motd")["issue"] == "changed"
    assert in_template("s.motd") == defaults["motd"]  # every caller has its own copy
    masked = loaders.modules.cluster.settings()
    assert masked["nodes"][WORKER]["private_ip"] == "**********"

    defaults_file = states / "defaults.yaml"
    banner = "Changed defaults, read by the next state run."
    defaults_file.write_text(
        defaults_file.read_text().replace(defaults["motd"]["issue"], banner), encoding="utf-8"
    )
    # The same context: what was computed is reused, defaults.yaml is not read again.
    assert in_template("s.motd") == defaults["motd"]
    # A state run has its own copy of the context: it reads the new defaults.
    ret = loaders.modules.state.show_sls("core.motd")
    assert isinstance(ret, dict), ret
    assert args_of(ret["core-motd-/etc/issue"])["context"]["banner"] == banner
