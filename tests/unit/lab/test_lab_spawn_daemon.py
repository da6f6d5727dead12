"""``spawn_daemon``: the one way the lab and the lab cloud start their detached daemons (the
lab supervisor, the lab cloud's backing daemon), checked on a real probe process."""

import json
import os
import pathlib

from kubesalt.lab import processes

REPO_ROOT = pathlib.Path(processes.__file__).resolve().parents[2]


def test_a_daemon_is_detached_logged_and_runs_this_tree(tmp_path):
    log = tmp_path / "probe.log"
    log.write_text("earlier line\n")
    read_end, write_end = os.pipe()
    kept, dropped = os.pipe()
    try:
        process = processes.spawn_daemon(
            "tests.support.daemon_probe",
            tmp_path,
            log,
            env={"KUBESALT_PROBE": "yes"},
            pass_fds=(write_end,),
        )
        assert process.wait(timeout=60) == 0
    finally:
        for fd in (read_end, write_end, kept, dropped):
            os.close(fd)
    earlier, line = log.read_text().splitlines()
    assert earlier == "earlier line"  # appended, not truncated
    seen = json.loads(line)
    assert seen["argv"] == [str(tmp_path)]
    assert (seen["cwd"], seen["stdin"], seen["probe"]) == ("/", "/dev/null", "yes")
    assert seen["session_leader"] is True
    assert seen["pythonpath"][0] == str(REPO_ROOT) == processes.PACKAGE_ROOT
    assert write_end in seen["fds"] and dropped not in seen["fds"]
