"""A lab test that cannot run: skipped locally with its reason, failed under CI=true."""

import fcntl
import os
import subprocess
import sys

import pytest

from tests.support import lab_policy
from tests.support.cases import load_cases
from tests.support.paths import REPO_ROOT

PYTEST = [sys.executable, "-m", "pytest", "-p", "no:randomly", "-q", "-rfs"]


@pytest.mark.parametrize("case", load_cases(__file__, "lab_policy"))
def test_outcome(case):
    decided = lab_policy.outcome(case["problem"], case["env"])
    if case["outcome"] is None:
        assert decided is None
    else:
        action, reason = decided
        assert action == case["outcome"][0]
        assert reason.startswith(case["outcome"][1])


@pytest.fixture
def lab_left_up(tmp_path):
    """The machine-wide lab lock held by a lab "left up" outside any test directory."""
    lock = tmp_path / "lab.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    os.write(fd, b"/var/lib/kubesalt/lab-left-by-make-demo\n")
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield lock
    finally:
        os.close(fd)


# Failing in set-up: pytest counts an error, and exits 1 like for a failure.
@pytest.mark.parametrize(("ci", "rc", "word"), [("true", 1, "error"), ("", 0, "skipped")])
def test_a_lab_tier_that_cannot_run_fails_under_ci_and_skips_locally(lab_left_up, ci, rc, word):
    # Not an xdist worker's environment: a worker's name there would make the inner run add
    # it to the lock's path (tests/support/parallel.py) and miss the lock held here.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST_")}
    env.update(CI=ci, KUBESALT_LAB_LOCK=str(lab_left_up))
    run = subprocess.run(
        [*PYTEST, "tests/lab/test_salt.py::test_minion_id_is_the_fqdn"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == rc, run.stdout[-3000:]
    assert f"1 {word}" in run.stdout
    assert "a lab is up on this machine (state in /var/lib/kubesalt/lab-left-by-make-demo" in (
        " ".join(run.stdout.split())
    )
    assert ("CI=true and the lab tests cannot run" in run.stdout) is bool(ci)
