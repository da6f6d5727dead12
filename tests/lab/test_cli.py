"""`kubesalt lab ...` argument handling and messages (no lab is started here)."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess

import pytest

from kubesalt import cli
from kubesalt.lab import Lab
from kubesalt.lab import lab as lab_module
from kubesalt.lab.lab import running_lab


def test_status_of_no_lab(tmp_path, capsys):
    assert cli.main(["lab", "--state-dir", str(tmp_path), "status"]) == 3
    assert "lab: down" in capsys.readouterr().out


def test_exec_without_a_command(tmp_path, capsys):
    assert cli.main(["lab", "--state-dir", str(tmp_path), "exec", "salt", "--"]) == 1
    assert "nothing to run" in capsys.readouterr().err


def test_exec_without_a_lab(tmp_path, capsys):
    assert cli.main(["lab", "--state-dir", str(tmp_path), "exec", "salt", "--", "true"]) == 1
    assert "no lab is up" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--workers", "-1"], "--workers must be between 0 and 150"),
        (["--control-planes", "0"], "--control-planes must be between 1 and 50"),
        (["--domain", "under_score.test"], "--domain 'under_score.test' is not a DNS name"),
    ],
)
def test_bad_up_arguments_start_nothing(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.setattr(lab_module, "requirements_problem", lambda: None)
    assert cli.main(["lab", "--state-dir", str(tmp_path), "up", *args]) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "pids.json").exists()


def test_down_without_a_lab_is_fine(tmp_path, capsys):
    assert cli.main(["lab", "--state-dir", str(tmp_path), "down"]) == 0
    assert "lab down" in capsys.readouterr().out


def test_running_lab_reads_the_lock_without_taking_it(tmp_path):
    lock = tmp_path / "lab.lock"
    assert running_lab(str(lock)) is None  # no lock file: no lab
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    try:
        os.write(fd, b"/var/lib/kubesalt/lab\n")
        assert running_lab(str(lock)) is None  # a file nobody holds: no lab
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert running_lab(str(lock)) == "/var/lib/kubesalt/lab"
    finally:
        os.close(fd)
    assert running_lab(str(lock)) is None


@pytest.mark.parametrize("recorded", [True, False])
def test_down_never_kills_a_process_that_reuses_a_lab_pid(tmp_path, recorded):
    """A stale state dir (e.g. from before a reboot) names pids other processes now use."""
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        pid = bystander.pid
        pids = {"supervisor": pid, "switch": pid, "hosts": {"salt": pid}}
        if recorded:
            pids |= {"supervisor_start": "1", "start_times": {str(pid): "1"}}
        (tmp_path / "pids.json").write_text(json.dumps(pids))
        Lab(tmp_path).down()
        assert bystander.poll() is None, "down killed a process that is not the lab's"
        assert not (tmp_path / "pids.json").exists()
    finally:
        bystander.kill()
        bystander.wait(timeout=10)
