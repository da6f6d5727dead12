"""Defaults that two languages set (issue 14 item 1): Terraform's variables (the root module
and modules/cloudinit) and the state tree's defaults.yaml (read by Jinja, which cannot import
either) agree, so a cluster built without Terraform (the lab, a hand-written inventory) gets
what `terraform apply` would have written into the inventory pillar."""

import inspect

import hcl2
import pytest
import yaml

from tests.support.loading import load_ext
from tests.support.paths import CLOUDINIT_DIR
from tests.support.paths import SALT_DIR
from tests.support.paths import TERRAFORM_DIR

SALT_DEFAULTS = yaml.safe_load((SALT_DIR / "states" / "defaults.yaml").read_text())["kubesalt"]


def _unquote(value):
    if isinstance(value, list):
        return [_unquote(item) for item in value]
    return value.strip('"') if isinstance(value, str) else value


def variable_defaults(directory) -> dict:
    found = {}
    for path in sorted(directory.glob("*.tf")):
        with path.open(encoding="utf-8") as handle:
            for block in hcl2.load(handle).get("variable", []):
                for name, body in block.items():
                    if "default" in body:
                        found[name.strip('"')] = _unquote(body["default"])
    return found


ROOT = variable_defaults(TERRAFORM_DIR)
CLOUDINIT = variable_defaults(CLOUDINIT_DIR)

# Terraform variable -> where the state tree keeps the same default (kubesalt:...).
SHARED = {
    "microk8s_channel": ("microk8s", "channel"),
    "dns_nameservers": ("resolv", "nameservers"),
    "public_cidr": ("networks", "public_cidr"),
    "private_cidr": ("networks", "private_cidr"),
    "pod_cidr": ("networks", "pod_cidr"),
    "service_cidr": ("networks", "service_cidr"),
}


@pytest.mark.parametrize("variable", sorted(SHARED))
def test_terraform_and_the_state_tree_default_alike(variable):
    section, key = SHARED[variable]
    salt_default = SALT_DEFAULTS[section][key]
    assert ROOT[variable] == salt_default, f"terraform/variables.tf {variable}"
    if variable in CLOUDINIT:
        assert CLOUDINIT[variable] == salt_default, f"modules/cloudinit {variable}"


def test_microk8s_install_defaults_to_the_state_trees_channel():
    install = load_ext("modules", "microk8s").install
    default = inspect.signature(install).parameters["channel"].default
    assert default == SALT_DEFAULTS["microk8s"]["channel"]
