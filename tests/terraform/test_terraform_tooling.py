"""`terraform fmt -check -recursive` and `terraform test` in modules/cloudinit (offline)."""

import re

from tests.support.paths import CLOUDINIT_DIR
from tests.support.paths import TERRAFORM_DIR

# Every variant and every validation failure in modules/cloudinit/tests/*.tftest.hcl.
MIN_TFTEST_RUNS = 37


def test_terraform_fmt_is_clean(terraform):
    result = terraform.run(["fmt", "-check", "-recursive", "-diff", "-no-color"], TERRAFORM_DIR)
    assert result.returncode == 0, f"terraform fmt would change:\n{result.stdout}{result.stderr}"


def test_cloudinit_module_tests_pass_offline(terraform):
    result = terraform.run(["test", "-no-color"], CLOUDINIT_DIR)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    match = re.search(r"Success! (\d+) passed, 0 failed", output)
    assert match, output
    assert int(match.group(1)) >= MIN_TFTEST_RUNS, output
    # No init, no provider: nothing may have been written into the module.
    assert not (CLOUDINIT_DIR / ".terraform").exists()
    assert not (CLOUDINIT_DIR / ".terraform.lock.hcl").exists()


def test_every_validation_failure_is_covered():
    """Each `validation` block of the module's variables.tf has an expect_failures run."""
    variables_tf = (CLOUDINIT_DIR / "variables.tf").read_text(encoding="utf-8")
    tests = "".join(p.read_text(encoding="utf-8") for p in (CLOUDINIT_DIR / "tests").glob("*.hcl"))
    validated = set()
    for block in re.split(r'\nvariable "', variables_tf)[1:]:
        name = block.split('"', 1)[0]
        if "validation {" in block:
            validated.add(name)
    expected = set(re.findall(r"expect_failures\s*=\s*\[var\.([a-z0-9_]+)\]", tests))
    assert validated, "no validation found in variables.tf"
    assert validated <= expected, f"validations without a failing test: {validated - expected}"
