"""Static checks of the root module with python-hcl2 (its provider cannot be installed here)."""

import functools
import re

import hcl2
import pytest

from tests.support.paths import CLOUDINIT_DIR
from tests.support.paths import TERRAFORM_DIR

# The Kube-on-OS variables and the operator's additions the issue asks for.
REQUIRED_VARIABLES = {
    "num_kube_nodes",
    "kube_node_flavor",
    "external_network_name",
    "base_image",
    "deploy_domain_name",
    "deploy_user",
    "set_root_password",
    "root_password",
    "users",
    "operator_cidrs",
    "num_control_planes",
    "salt_version",
    "microk8s_channel",
}
# Variables without a validation block, and why.
UNVALIDATED = {
    "openstack_cloud": "any clouds.yaml entry name, or null",
    "set_root_password": "a bool",
    "kube_api_floating_ip": "a bool",
    "salt_master_volume_type": "any Cinder type, or null",
    "remove_nodes_over_ssh": "a bool",
}
# Root variables whose rules live in modules/cloudinit, the module they are passed to (one
# place, issue 14), by the module variable that carries them.
VALIDATED_IN_CLOUDINIT = {
    "deploy_domain_name": "domain",
    "deploy_user": "deploy_user",
    "deploy_ssh_public_keys": "deploy_ssh_public_keys",
    "root_password": "root_password",
    "users": "users",
    "dns_nameservers": "dns_nameservers",
    "timezone": "timezone",
    "salt_version": "salt_version",
    "microk8s_channel": "microk8s_channel",
    "state_tree_repository": "state_tree",
    "state_tree_ref": "state_tree",
    "public_cidr": "networks",
    "private_cidr": "networks",
    "pod_cidr": "networks",
    "service_cidr": "networks",
}
MICROK8S_PORTS = {("tcp", 16443), ("tcp", 25000), ("tcp", 19001), ("tcp", 10250), ("udp", 4789)}


def _unquote(value):
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _load_dir(directory):
    parsed = {}
    for path in sorted(directory.glob("*.tf")):
        with path.open(encoding="utf-8") as handle:
            for key, blocks in hcl2.load(handle).items():
                if not key.startswith("__"):
                    parsed.setdefault(key, []).extend(blocks)
    return parsed


@functools.cache
def _root():
    return _load_dir(TERRAFORM_DIR)


def _resources(resource_type, module=None):
    found = {}
    for block in (module or _root()).get("resource", []):
        for rtype, named in block.items():
            if _unquote(rtype) == resource_type:
                for name, body in named.items():
                    found[_unquote(name)] = {k: _unquote(v) for k, v in body.items()}
    return found


def _variables():
    return {_unquote(name): body for block in _root()["variable"] for name, body in block.items()}


def test_required_variables_exist():
    assert REQUIRED_VARIABLES <= set(_variables())


def _module_variables():
    return {
        _unquote(name): body
        for block in _load_dir(CLOUDINIT_DIR)["variable"]
        for name, body in block.items()
    }


def _module_call():
    (call,) = [body for block in _root()["module"] for name, body in block.items()]
    return call


@pytest.mark.parametrize("name", sorted(_variables()))
def test_every_variable_is_typed_described_and_validated(name):
    body = _variables()[name]
    assert body.get("type"), f"variable {name} has no type"
    assert len(_unquote(body.get("description", ""))) > 15, f"variable {name} is not described"
    if name in VALIDATED_IN_CLOUDINIT:
        target = VALIDATED_IN_CLOUDINIT[name]
        assert f"var.{name}" in str(_module_call()), f"{name} is not passed to modules/cloudinit"
        assert _module_variables()[target].get("validation"), f"{target} has no validation"
    elif name not in UNVALIDATED:
        assert body.get("validation"), f"variable {name} has no validation"
    for validation in body.get("validation", []):
        assert f"Variable {name}" in _unquote(validation["error_message"]), (
            f"variable {name}: the error message must name the variable"
        )


def _patterns(body):
    """The regex patterns and comparisons a variable's validations use."""
    text = " ".join(str(v["condition"]) for v in body.get("validation", []))
    return set(re.findall(r'regex\("((?:[^"\\]|\\.)+)"', text))


@pytest.mark.parametrize("name", sorted(VALIDATED_IN_CLOUDINIT))
def test_each_rule_lives_once(name):
    """Issue 14: no rule of modules/cloudinit is repeated in the root module (they had drifted:
    `users` named like deploy_user was refused in one place only)."""
    root = _variables()[name]
    module = _module_variables()[VALIDATED_IN_CLOUDINIT[name]]
    shared = _patterns(root) & _patterns(module)
    assert not shared, f"{name}: the same rule in both modules: {shared}"
    # the root keeps only what only it knows: the way in, its own address plan
    if name not in ("deploy_ssh_public_keys", "public_cidr", "private_cidr"):
        assert not root.get("validation"), f"{name} is validated in the root module too"


def test_secrets_are_sensitive():
    assert _variables()["root_password"].get("sensitive") is True


def _ingress_rules():
    rules = _resources("openstack_networking_secgroup_rule_v2")
    assert rules, "no security group rules found"
    return {name: rule for name, rule in rules.items() if rule["direction"] == "ingress"}


BASTION_ADDRESS = "${local.bastion_private_ip}/32"


def test_no_rule_trusts_the_bastions_group():
    """Issue 11 defect 4: the bastion's private port allows every address (pair 0.0.0.0/0);
    on ML2/OVS its group as a remote group matches any source."""
    for name, rule in _ingress_rules().items():
        assert "bastion_private" not in (rule.get("remote_group_id") or ""), name


def test_no_world_open_ingress():
    for name, rule in _ingress_rules().items():
        prefix = rule.get("remote_ip_prefix")
        group = rule.get("remote_group_id")
        assert prefix or group, f"rule {name} has neither remote_ip_prefix nor remote_group_id"
        if prefix:
            assert not prefix.endswith("/0"), f"rule {name} is open to the world"
            assert prefix in ("${var.private_cidr}", "${each.value}", BASTION_ADDRESS), (
                f"rule {name}: unexpected source {prefix}"
            )
            if prefix == "${each.value}":
                assert "var.operator_cidrs" in rule["for_each"], name


def _port_ranges(rule):
    low = rule.get("port_range_min")
    high = rule.get("port_range_max")
    return (low, high)


def test_ssh_only_from_operators_to_the_bastion_or_from_the_bastion():
    for name, rule in _ingress_rules().items():
        low, high = _port_ranges(rule)
        if low is None or (isinstance(low, int) and low <= 22 <= high):
            if rule.get("remote_ip_prefix") == "${each.value}":
                assert "bastion_public" in rule["security_group_id"], name
            elif rule.get("remote_ip_prefix") == BASTION_ADDRESS:
                continue
            else:
                # Only the bastion's NAT rule opens everything, and only to the private net.
                assert name == "bastion_forward" and rule["remote_ip_prefix"] == (
                    "${var.private_cidr}"
                ), name


def test_salt_ports_only_from_the_private_network():
    salt_rules = {
        name: rule
        for name, rule in _ingress_rules().items()
        if isinstance(rule.get("port_range_min"), int)
        and rule["port_range_min"] <= 4506
        and rule["port_range_max"] >= 4505
    }
    assert salt_rules, "no rule opens the Salt ports"
    for name, rule in salt_rules.items():
        assert rule.get("remote_ip_prefix") == "${var.private_cidr}", name
        assert "remote_group_id" not in rule, name


def test_microk8s_ports_only_between_cluster_members():
    rule = _resources("openstack_networking_secgroup_rule_v2")["cluster_members"]
    assert rule["remote_group_id"] == "${openstack_networking_secgroup_v2.cluster.id}"
    assert rule["security_group_id"] == "${openstack_networking_secgroup_v2.cluster.id}"
    locals_ = {k: v for block in _root()["locals"] for k, v in block.items()}
    ports = {
        (_unquote(p["protocol"]), p["port"]) for p in locals_["microk8s_member_ports"].values()
    }
    assert ports == MICROK8S_PORTS


def test_security_groups_on_ports_not_instances():
    for name, port in _resources("openstack_networking_port_v2").items():
        assert port.get("security_group_ids"), f"port {name} has no security group"
    for name, instance in _resources("openstack_compute_instance_v2").items():
        assert "security_groups" not in instance, f"instance {name}: put groups on its ports"


def test_salt_master_volume_attached_at_boot():
    master = _resources("openstack_compute_instance_v2")["salt_master"]
    volumes = [
        {k: _unquote(v) for k, v in bd.items()}
        for bd in master["block_device"]
        if _unquote(bd["source_type"]) == "volume"
    ]
    assert volumes == [
        {
            "uuid": "${openstack_blockstorage_volume_v3.salt_master.id}",
            "source_type": "volume",
            "destination_type": "volume",
            "boot_index": -1,
            "delete_on_termination": False,
            "__is_block__": True,
        }
    ]
    assert not _resources("openstack_compute_volume_attach_v2"), "attach at boot, not after"
    assert "user_data" in str(master["lifecycle"]), "the master must ignore user_data changes"


def test_a_removed_worker_is_removed_from_the_master_after_its_instance():
    """Issue 11 defect 3, -1: one terraform_data per worker whose destroy-time provisioner
    runs the removal runner over the operator's ssh; the worker's instance depends on it (so
    it is deleted first); only addresses, names and the id in its input (no key, no secret);
    host keys are never waved through."""
    membership = _resources("terraform_data")["worker_membership"]
    assert membership["count"] == "${var.num_kube_nodes}"
    assert set(membership["input"]) == {"minion_id", "user", "bastion", "master", "remove"}
    (provisioner,) = membership["provisioner"]
    local_exec = {_unquote(kind): body for kind, body in provisioner.items()}["local-exec"]
    assert _unquote(local_exec["when"]) in ("destroy", "${destroy}")
    command = str(local_exec["command"])
    assert "minion_admission.remove ${self.input.minion_id}" in command
    assert "BatchMode=yes" in command and "-J " in command
    assert "StrictHostKeyChecking" not in command and "private_key" not in command
    worker = _resources("openstack_compute_instance_v2")["worker"]
    assert worker["depends_on"] == ["${terraform_data.worker_membership}"]


def test_salt_keys_generated_in_advance():
    keys = _resources("tls_private_key")
    assert set(keys) == {"salt_master", "minion"}
    for key in keys.values():
        assert key["algorithm"] == "RSA" and key["rsa_bits"] == 4096


def test_outputs():
    outputs = {_unquote(n): b for block in _root()["output"] for n, b in block.items()}
    assert {"bastion_address", "ssh_config", "salt_master_address"} <= set(outputs)
    assert "ProxyJump" in outputs["ssh_config"]["value"]


def test_cloudinit_module_has_no_provider_and_no_resource():
    module = _load_dir(CLOUDINIT_DIR)
    assert "provider" not in module and "resource" not in module and "data" not in module
    for block in module["terraform"]:
        assert "required_providers" not in block


def test_readme_documents_every_variable():
    readme = (TERRAFORM_DIR.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## OpenStack: Terraform and cloud-init", 1)[1].split("\n## ", 1)[0]
    missing = [name for name in _variables() if f"`{name}`" not in section]
    assert not missing, f"README's variables table lacks {missing}"


def _text(directory):
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(directory.glob("*.tf")))


def _declared(parsed, kind):
    """Names of `variable`/`output` blocks, or `type.name` of resources and data sources."""
    names = set()
    for block in parsed.get(kind, []):
        for key, body in block.items():
            if kind in ("resource", "data"):
                names |= {f"{_unquote(key)}.{_unquote(name)}" for name in body}
            else:
                names.add(_unquote(key))
    return names


def _locals(parsed):
    return {key for block in parsed.get("locals", []) for key in block if not key.startswith("__")}


@pytest.mark.parametrize("directory", [TERRAFORM_DIR, CLOUDINIT_DIR], ids=["root", "cloudinit"])
def test_every_reference_is_declared(directory):
    """What `terraform validate` would catch, for the module that cannot be initialised here."""
    parsed = _load_dir(directory)
    text = _text(directory)
    assert set(re.findall(r"\bvar\.([a-z0-9_]+)", text)) <= _declared(parsed, "variable")
    assert set(re.findall(r"\blocal\.([a-z0-9_]+)", text)) <= _locals(parsed)
    resources = _declared(parsed, "resource")
    data = _declared(parsed, "data")
    for ref in set(re.findall(r"(?<![.\w])((?:openstack|tls)_[a-z0-9_]+\.[a-z0-9_]+)", text)):
        assert ref in resources, f"{ref} is not a declared resource"
    for ref in set(re.findall(r"\bdata\.([a-z0-9_]+\.[a-z0-9_]+)", text)):
        assert ref in data, f"data.{ref} is not declared"


def test_root_module_passes_what_the_cloudinit_module_takes():
    module = _load_dir(CLOUDINIT_DIR)
    variables = {
        _unquote(name): body for block in module["variable"] for name, body in block.items()
    }
    call = _root()["module"][0]['"cloudinit"']
    passed = {key for key in call if key != "source" and not key.startswith("__")}
    assert passed <= set(variables), f"unknown module inputs: {passed - set(variables)}"
    required = {name for name, body in variables.items() if "default" not in body}
    assert required <= passed, f"required module inputs not passed: {required - passed}"
    outputs = _declared(module, "output")
    used = set(re.findall(r"\bmodule\.cloudinit\.([a-z0-9_]+)", _text(TERRAFORM_DIR)))
    assert used <= outputs, f"unknown module outputs: {used - outputs}"
