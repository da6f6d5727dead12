"""kubesalt.tf.engine: a Terraform run leaves no process of its own behind, however it ends
(normal exit, timeout, Ctrl-C): the provider plugins Terraform starts (the lab cloud's
``python -m kubesalt.cloud serve ...``) go with it.

The engine runs whatever ``KUBESALT_TERRAFORM`` names; here that is a small script standing
in for ``terraform`` that starts a long-lived child (a provider) and records the pids."""

import os
import pathlib
import signal
import stat
import subprocess
import sys
import time

import pytest

from kubesalt.tf import engine as tf_engine
from tests.support.terminal import at_a_terminal

# The timeout of the tests that time out: long enough for the fake terraform to have started
# its provider and recorded both pids on a loaded machine (make test runs labs beside it).
TEST_TIMEOUT = 3.0

# A provider plugin: a child of terraform, in its process group, that does not end by itself.
FAKE_TERRAFORM = """#!/bin/sh
sleep 300 {child_io} &
echo $! >> "{pids}"
echo $$ >> "{pids}"
{after}
"""


def fake_terraform(tmp_path: pathlib.Path, *, after: str, child_io: str = "") -> pathlib.Path:
    script = tmp_path / "terraform"
    pids = tmp_path / "pids"
    script.write_text(FAKE_TERRAFORM.format(pids=pids, after=after, child_io=child_io))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def recorded_pids(tmp_path: pathlib.Path) -> list[int]:
    path = tmp_path / "pids"
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def living(pids: list[int]) -> list[int]:
    """The processes of ``pids`` that still run (a zombie does not)."""
    out = []
    for pid in pids:
        try:
            state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            out.append(pid)
    return out


def gone_within(pids: list[int], seconds: float) -> list[int]:
    """The processes of ``pids`` still running after ``seconds`` (bounded wait)."""
    deadline = time.monotonic() + seconds
    while living(pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return living(pids)


@pytest.fixture(autouse=True)
def cleanup(tmp_path):
    """Kill whatever a failing test left behind (only the processes the fake terraform
    recorded)."""
    yield
    for pid in living(recorded_pids(tmp_path)):
        os.kill(pid, signal.SIGKILL)


def test_a_timeout_stops_terraform_and_its_providers(tmp_path, monkeypatch):
    script = fake_terraform(tmp_path, after="exec sleep 300")
    monkeypatch.setattr(tf_engine, "RUN_TIMEOUT", TEST_TIMEOUT)
    engine = tf_engine.find_engine(str(script))
    started = time.monotonic()
    with pytest.raises(tf_engine.TerraformError) as raised:
        engine.run(["apply", "-auto-approve"], tmp_path)
    pids = recorded_pids(tmp_path)
    assert len(pids) == 2, "the fake terraform did not start"
    assert gone_within(pids, 5.0) == [], "terraform or its provider survived the timeout"
    message = str(raised.value)
    assert "terraform apply" in message and "3 s" in message and str(tmp_path) in message
    assert time.monotonic() - started < TEST_TIMEOUT + 10


def test_a_provider_that_ignores_sigterm_is_killed(tmp_path, monkeypatch):
    # The provider traps SIGTERM; after the grace period it gets SIGKILL.
    script = fake_terraform(tmp_path, after="exec sleep 300")
    script.write_text(
        script.read_text().replace("sleep 300 ", "sh -c 'trap \"\" TERM; sleep 300; :' ", 1)
    )
    monkeypatch.setattr(tf_engine, "RUN_TIMEOUT", TEST_TIMEOUT)
    monkeypatch.setattr(tf_engine, "STOP_GRACE", 0.5)
    with pytest.raises(tf_engine.TerraformError, match="did not finish in 3 s"):
        tf_engine.find_engine(str(script)).run(["plan"], tmp_path)
    pids = recorded_pids(tmp_path)
    assert len(pids) == 2
    assert gone_within(pids, 5.0) == []


def test_ctrl_c_stops_terraform_and_its_providers(tmp_path):
    # Ctrl-C as a user's: SIGINT to a Python process running the engine (not a signal in
    # this test process, whose SIGALRM pytest-timeout owns), once the fake terraform runs
    # with its provider.
    script = fake_terraform(tmp_path, after="exec sleep 300")
    caller = subprocess.Popen(
        at_a_terminal(
            [
                sys.executable,
                "-c",
                "import sys; from kubesalt.tf import engine; "
                "engine.find_engine(sys.argv[1]).run(['apply'], sys.argv[2])",
                str(script),
                str(tmp_path),
            ]
        ),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while len(recorded_pids(tmp_path)) < 2 and caller.poll() is None:
            assert time.monotonic() < deadline, "the fake terraform did not start in 60 s"
            time.sleep(0.05)
        caller.send_signal(signal.SIGINT)
        _, stderr = caller.communicate(timeout=60)
    finally:
        if caller.poll() is None:
            caller.kill()
            caller.wait()
    assert "KeyboardInterrupt" in stderr, stderr
    pids = recorded_pids(tmp_path)
    assert len(pids) == 2, "the fake terraform did not start"
    assert gone_within(pids, 5.0) == [], "terraform or its provider survived Ctrl-C"


def test_a_normal_run_leaves_no_provider_behind(tmp_path):
    # Terraform exits 0 and prints, but a provider it started (output elsewhere) lingers.
    script = fake_terraform(tmp_path, after="echo Terraform v1.99.0", child_io=">/dev/null 2>&1")
    result = tf_engine.find_engine(str(script)).run(["version"], tmp_path)
    pids = recorded_pids(tmp_path)
    assert (result.returncode, result.stdout) == (0, "Terraform v1.99.0\n")
    assert len(pids) == 2
    assert gone_within(pids, 5.0) == [], "a provider outlived a finished terraform run"


def test_terraform_is_asked_once_to_stop_before_its_providers(tmp_path, monkeypatch):
    # Terraform stops gracefully on its first SIGTERM (it saves its state, then stops its
    # providers) and exits at once on a second: it gets one, while its provider still runs.
    log = tmp_path / "log"
    script = fake_terraform(
        tmp_path,
        after=(
            f"trap 'kill -0 $(head -1 {tmp_path}/pids) && echo provider-alive >> {log}; "
            f"echo stopping >> {log}; sleep 0.5; exit 3' TERM\n"
            f'sleep 300 &\necho $! >> "{tmp_path}/pids"\nwait $!\nwait $!'
        ),
    )
    monkeypatch.setattr(tf_engine, "RUN_TIMEOUT", TEST_TIMEOUT)
    monkeypatch.setattr(tf_engine, "STOP_GRACE", 3.0)
    with pytest.raises(tf_engine.TerraformError, match="did not finish in 3 s"):
        tf_engine.find_engine(str(script)).run(["apply"], tmp_path)
    assert log.read_text() == "provider-alive\nstopping\n"
    assert gone_within(recorded_pids(tmp_path), 5.0) == []


def test_without_pidfd_a_timeout_still_stops_everything(tmp_path, monkeypatch):
    # Linux before 5.3 has no pidfd_open: the engine looks for the exit instead.
    def no_pidfd(pid, flags=0):
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(tf_engine.os, "pidfd_open", no_pidfd)
    monkeypatch.setattr(tf_engine, "RUN_TIMEOUT", TEST_TIMEOUT)
    script = fake_terraform(tmp_path, after="exec sleep 300")
    with pytest.raises(tf_engine.TerraformError, match="did not finish in 3 s"):
        tf_engine.find_engine(str(script)).run(["apply"], tmp_path)
    assert gone_within(recorded_pids(tmp_path), 5.0) == []
    fast = fake_terraform(tmp_path, after="echo Terraform v1.99.0", child_io=">/dev/null 2>&1")
    assert tf_engine.find_engine(str(fast)).run(["version"], tmp_path).returncode == 0
    assert gone_within(recorded_pids(tmp_path), 5.0) == []
