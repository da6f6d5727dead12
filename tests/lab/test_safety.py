"""The lab leaves the machine unchanged: after down, Ctrl-C, a crash or a failed up.

Each test compares a snapshot of the machine (mounts, network namespaces, links, addresses,
attached loop devices and loop partitions, lab processes: see
tests/support/lab_safety.machine_snapshot) taken before the lab with one taken after; the
lab-cloud modules (tests/lab/test_labcloud_*.py) compare the same around their clouds.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from kubesalt.lab import Lab
from kubesalt.lab import LabError
from kubesalt.lab import lab as lab_module
from tests.support.lab import LOCK_WAIT
from tests.support.lab_safety import assert_nothing_left
from tests.support.lab_safety import leftovers
from tests.support.lab_safety import machine_snapshot
from tests.support.paths import REPO_ROOT
from tests.support.terminal import at_a_terminal
from tests.support.waiting import wait_until


def _sha(path: str) -> str:
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def test_up_and_down_leave_the_machine_unchanged(lab_dir):
    """A full lab (Salt included) whose hosts write users, configs and sysctls."""
    sshd_config = _sha("/etc/ssh/sshd_config")
    machine_ip_forward = pathlib.Path("/proc/sys/net/ipv4/ip_forward").read_text()
    file_max = pathlib.Path("/proc/sys/fs/file-max").read_text()
    before = machine_snapshot(lab_dir)
    lab = Lab(lab_dir, die_with_caller=True)
    try:
        lab.up(workers=1, control_planes=1, lock_wait=LOCK_WAIT)
        worker = "k8s-worker-0"
        lab.exec(worker, ["useradd", "--create-home", "kubesalt-lab-user"], check=True)
        lab.exec(
            worker,
            ["sh", "-c", "echo 'PermitRootLogin no' >> /etc/ssh/sshd_config"],
            check=True,
        )
        lab.exec(worker, ["sh", "-c", "echo lab > /root/written-in-a-host"], check=True)
        # Inside the host the writes are real...
        assert "kubesalt-lab-user" in lab.exec(worker, ["getent", "passwd"], check=True).stdout
        assert lab.exec(worker, ["cat", "/root/written-in-a-host"], check=True).stdout == "lab\n"
        # ...machine-wide kernel settings are read-only, the host's network ones are its own.
        refused = lab.exec(worker, ["sh", "-c", "echo 100000 > /proc/sys/fs/file-max"])
        assert refused.returncode != 0 and "Read-only" in refused.stderr
        assert lab.exec("bastion", ["cat", "/proc/sys/net/ipv4/ip_forward"]).stdout == "1\n"
        # ...and none of it reaches the machine, even while the lab is up.
        assert (
            subprocess.run(["getent", "passwd", "kubesalt-lab-user"], check=False).returncode == 2
        )
        assert _sha("/etc/ssh/sshd_config") == sshd_config
        assert not pathlib.Path("/root/written-in-a-host").exists()
        assert pathlib.Path("/proc/sys/net/ipv4/ip_forward").read_text() == machine_ip_forward
        assert pathlib.Path("/proc/sys/fs/file-max").read_text() == file_max
        during = machine_snapshot(lab_dir)
        assert during["mounts"] == before["mounts"], "a lab mount is visible on the machine"
        assert during["links"] == before["links"], "a lab interface is visible on the machine"
        assert during["addresses"] == before["addresses"]
        assert during["netns"] == before["netns"]
        assert len(during["namespaces"]) > len(before["namespaces"])
    finally:
        took = lab.down()
    assert took < 5.0
    assert_nothing_left(before, machine_snapshot(lab_dir))
    assert not lab.is_up()
    assert lab.down() < 1.0  # idempotent


def test_ctrl_c_during_up_tears_everything_down(lab_dir):
    before = machine_snapshot(lab_dir)
    env = dict(os.environ, KUBESALT_LAB_DIR=str(lab_dir), PYTHONPATH=str(REPO_ROOT))
    process = subprocess.Popen(
        at_a_terminal([sys.executable, "-m", "kubesalt", "lab", "up", "--workers", "1"]),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,  # its own process group, like a shell job at the terminal
    )
    try:
        # Interrupt while Salt daemons are starting inside the hosts.
        wait_until((lab_dir / "pids.json").exists, 60, "the hosts to start")
        wait_until((lab_dir / "lab.json").exists, 60, "the network to be wired")
        time.sleep(0.5)
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C at the terminal sends
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    assert process.returncode != 0
    assert "tearing down" in output
    assert_nothing_left(before, machine_snapshot(lab_dir))


def test_kill_9_of_the_supervisor_takes_the_lab_down(lab_dir):
    before = machine_snapshot(lab_dir)
    lab = Lab(lab_dir, die_with_caller=True)
    try:
        lab.up(workers=1, control_planes=1, lock_wait=LOCK_WAIT, salt=False)
        # A daemon in a host, started the Debian way, detached from anything we hold.
        lab.exec(
            "k8s-worker-0",
            ["start-stop-daemon", "--start", "--background", "--exec", "/bin/sleep", "--", "600"],
            check=True,
        )
        pids = json.loads((lab_dir / "pids.json").read_text())
        os.kill(pids["supervisor"], signal.SIGKILL)
        wait_until(
            lambda: not leftovers(before, machine_snapshot(lab_dir)),
            5,
            "every lab process to die with its supervisor",
        )
        # The lock died with the lab's processes: a new lab can start at once.
        lab.up(workers=0, control_planes=1, salt=False)
    finally:
        lab.down()
    assert_nothing_left(before, machine_snapshot(lab_dir))


def test_a_killed_test_run_takes_its_lab_down(lab_dir):
    """A lab made with die_with_caller=True (the tests') dies with the process that made it."""
    before = machine_snapshot(lab_dir)
    script = (
        "import sys, time\n"
        "from kubesalt.lab import Lab\n"
        f"Lab({str(lab_dir)!r}, die_with_caller=True).up(workers=1, lock_wait=60, salt=False)\n"
        "print('up', flush=True)\n"
        "time.sleep(120)\n"
    )
    caller = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
        cwd=str(REPO_ROOT),
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
    )
    try:
        assert caller.stdout.readline().strip() == "up"
        assert machine_snapshot(lab_dir)["namespaces"] - before["namespaces"]
        caller.kill()  # SIGKILL: no clean-up code of the caller runs
        caller.wait(timeout=10)
        wait_until(
            lambda: not leftovers(before, machine_snapshot(lab_dir)),
            5,
            "the lab to die with the process that made it",
        )
    finally:
        if caller.poll() is None:
            caller.kill()
            caller.wait(timeout=10)
        Lab(lab_dir).down()
    assert_nothing_left(before, machine_snapshot(lab_dir))


def test_a_failing_up_tears_down_and_says_why(lab_dir, monkeypatch):
    before = machine_snapshot(lab_dir)

    def broken(self, hosts, report):
        raise LabError("salt could not start (simulated)")

    monkeypatch.setattr(lab_module.Lab, "_start_salt", broken)
    lab = Lab(lab_dir, die_with_caller=True)
    with pytest.raises(LabError, match="simulated"):
        lab.up(workers=1, control_planes=1, lock_wait=LOCK_WAIT)
    assert not lab.is_up()
    assert_nothing_left(before, machine_snapshot(lab_dir))


def test_one_lab_at_a_time(lab_dir, tmp_path):
    lab = Lab(lab_dir, die_with_caller=True)
    try:
        lab.up(workers=0, control_planes=1, lock_wait=LOCK_WAIT, salt=False)
        with pytest.raises(LabError, match=r"already up.*kubesalt lab down"):
            Lab(tmp_path / "second").up(workers=0, control_planes=1, salt=False)
        assert lab.is_up()
    finally:
        lab.down()


def test_not_root_gives_a_clear_message(monkeypatch, tmp_path):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(LabError, match="needs root"):
        Lab(tmp_path).up()
    assert not (tmp_path / "pids.json").exists()


def test_exec_needs_an_up_lab(tmp_path):
    with pytest.raises(LabError, match="no lab is up"):
        Lab(tmp_path).exec("salt", ["true"])
