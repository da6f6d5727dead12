"""`make test`'s pytest-xdist plan (tests/support/parallel.py), run for real: a small suite
under ``-n 2 --dist loadgroup`` whose tests record where they ran and with which lab lock."""

import fcntl
import json
import os
import subprocess
import sys
import time

from tests.support import lab
from tests.support import parallel
from tests.support.paths import REPO_ROOT

# The hooks tests/conftest.py installs (a test module never imports a conftest).
CONFTEST = """
import pytest
from tests.support import parallel

def pytest_addoption(parser):
    parser.addoption("--lab-workers", type=int, default=3)

def pytest_configure(config):
    parallel.use_worker_lab_env()

def pytest_xdist_make_scheduler(config, log):
    return parallel.make_scheduler(config, log)

@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    parallel.plan(items)
"""

RECORD = """
import json, os

def _record(name):
    with open(os.environ["RECORD"], "a") as out:
        out.write(json.dumps([name, os.environ.get("PYTEST_XDIST_WORKER"),
                              os.environ.get("KUBESALT_LAB_LOCK"),
                              os.environ.get("KUBESALT_LAB_DIR")]) + "\\n")

def test_one():
    _record(__file__ + "::one")

def test_two():
    _record(__file__ + "::two")
"""

QUIET = ("-q", "-o", "addopts=")
FILES = (
    "tests/unit/test_quick.py",
    "tests/lab/test_short.py",
    "tests/lab/test_cluster_rollout.py",  # first in parallel.LONGEST_FIRST
    "tests/lab/test_master_restart.py",  # with test_cluster_rollout.py in lab.SHARED
    "tests/terraform/test_cloud_init_boot.py",  # both in parallel.ONE_AT_A_TIME
    "tests/functional/states/test_host_states.py",
)


def _suite(tmp_path):
    tmp_path.mkdir()
    (tmp_path / "conftest.py").write_text(CONFTEST)
    for name in FILES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(RECORD)
    return tmp_path


def _pytest(suite, record, *args):
    env = dict(
        os.environ,
        PYTHONPATH=str(REPO_ROOT),
        RECORD=str(record),
        KUBESALT_LAB_LOCK="/run/lock/kubesalt-lab-x.lock",
        KUBESALT_LAB_DIR="/var/lib/kubesalt/lab-x",
    )
    env.pop("PYTEST_XDIST_WORKER", None)
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # only xdist: quicker workers
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "xdist", "-p", "no:cacheprovider", *QUIET, *args],
        cwd=suite,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_long_tiers_first_and_every_file_in_a_group(tmp_path):
    suite = _suite(tmp_path / "suite")
    run = _pytest(suite, tmp_path / "record", "--collect-only")
    assert run.returncode == 0, run.stdout + run.stderr
    files = []
    for line in run.stdout.splitlines():
        if "::" in line and line.split("::")[0] not in files:
            files.append(line.split("::")[0])
    # The lab tier first, its longest group (a SHARED chain, kept together) before the
    # others, then the rest; the two files that must not overlap together, where the first
    # of them ranks (Terraform before the unit tier).
    assert files == [
        "tests/lab/test_cluster_rollout.py",
        "tests/lab/test_master_restart.py",
        "tests/lab/test_short.py",
        "tests/functional/states/test_host_states.py",
        "tests/terraform/test_cloud_init_boot.py",
        "tests/unit/test_quick.py",
    ], run.stdout


def test_groups_stay_on_one_worker_and_workers_have_their_own_lab_lock(tmp_path):
    suite = _suite(tmp_path / "suite")
    record = tmp_path / "record"
    run = _pytest(suite, record, "-n", "3", "--dist", "loadgroup", "--no-loadscope-reorder")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "12 passed" in run.stdout, run.stdout
    rows = [json.loads(line) for line in record.read_text().splitlines()]
    worker_of = {}
    for name, worker, lock, state in rows:
        assert lock == f"/run/lock/kubesalt-lab-x-{worker}.lock"
        assert state == f"/var/lib/kubesalt/lab-x-{worker}"
        worker_of.setdefault(name.rsplit("::", 1)[0], set()).add(worker)
    assert all(len(workers) == 1 for workers in worker_of.values()), worker_of
    for names in (("host_states", "cloud_init_boot"), ("cluster_rollout", "master_restart")):
        # Each group on one worker, its files one after the other, in the plan's order.
        files = [f for f in worker_of if any(name in f for name in names)]
        assert len(files) == 2
        assert worker_of[files[0]] == worker_of[files[1]]
        order = [row[0].rsplit("::", 1)[0] for row in rows if row[0].rsplit("::", 1)[0] in files]
        first, second = (next(f for f in files if name in f) for name in names)
        assert order == [first, first, second, second]
    assert len({w for ws in worker_of.values() for w in ws}) == 3


def test_worker_lab_env_defaults():
    assert parallel.worker_lab_env({}, "gw3") == {
        "KUBESALT_LAB_LOCK": "/run/lock/kubesalt-lab-gw3.lock",
        "KUBESALT_LAB_DIR": "/var/lib/kubesalt/lab-gw3",
        "KUBESALT_TEST_BOOT_LOCK": "/run/lock/kubesalt-lab-boot.lock",
    }


def _free(path) -> bool:
    with open(path, "a") as probe:
        try:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(probe, fcntl.LOCK_UN)
        return True


def test_labs_come_up_one_at_a_time_with_a_bounded_wait(tmp_path, monkeypatch):
    path = tmp_path / "boot.lock"
    monkeypatch.setenv(lab.BOOT_LOCK_ENV, str(path))
    with lab.one_boot_at_a_time():
        assert not _free(path)  # held while the lab comes up
        started = time.monotonic()
        with lab.one_boot_at_a_time(wait=0.3):  # another worker's turn: waits, then goes on
            assert time.monotonic() - started >= 0.3
        assert not _free(path)
    assert _free(path)
    path.unlink()
    monkeypatch.delenv(lab.BOOT_LOCK_ENV)
    with lab.one_boot_at_a_time():  # a run in one process: no lock at all
        assert not path.exists()
