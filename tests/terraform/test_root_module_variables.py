"""Root module variables, checked by the real engine offline.

The root module needs the OpenStack provider (no `init` here), but its variables.tf is
self-contained: planned alone, in a scratch directory, it runs every validation exactly as
`terraform plan` would in the root module.
"""

import json
import shutil

import hcl2
import pytest

from tests.support.cases import load_cases
from tests.support.paths import TERRAFORM_DIR

BASE_VARS = {
    "deploy_ssh_public_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOperator operator@example"],
    "operator_cidrs": ["198.51.100.0/24"],
    "state_tree_repository": "https://git.example.com/ops/kubesalt.git",
}


def _plan(terraform, workdir, variables):
    shutil.copy(TERRAFORM_DIR / "variables.tf", workdir / "variables.tf")
    (workdir / "test.tfvars.json").write_text(json.dumps(variables), encoding="utf-8")
    return terraform.run(
        ["plan", "-input=false", "-no-color", "-var-file=test.tfvars.json"], workdir
    )


def _error_messages(variable):
    """The error_message texts of a root variable's validations."""
    parsed = hcl2.load((TERRAFORM_DIR / "variables.tf").open(encoding="utf-8"))
    for block in parsed["variable"]:
        for name, body in block.items():
            if name.strip('"') == variable:
                return [v["error_message"].strip('"') for v in body.get("validation", [])]
    raise AssertionError(f"no variable {variable}")


def test_valid_base_plans(terraform, tmp_path):
    result = _plan(terraform, tmp_path, BASE_VARS)
    assert result.returncode == 0, result.stderr


def test_tfvars_example_is_valid(terraform, tmp_path):
    shutil.copy(TERRAFORM_DIR / "terraform.tfvars.example", tmp_path / "example.tfvars")
    shutil.copy(TERRAFORM_DIR / "variables.tf", tmp_path / "variables.tf")
    result = terraform.run(
        ["plan", "-input=false", "-no-color", "-var-file=example.tfvars"], tmp_path
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("case", load_cases(__file__, "root_variables_bad"))
def test_bad_input_fails_naming_the_variable(terraform, tmp_path, case):
    result = _plan(terraform, tmp_path, {**BASE_VARS, **case["vars"]})
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0, f"{case['id']}: plan accepted {case['vars']}"
    assert "Invalid value for variable" in output, output
    # The message the operator reads names the variable too.
    assert any(
        " ".join(m.split()) in output and case["variable"] in m
        for m in _error_messages(case["variable"])
    ), output
