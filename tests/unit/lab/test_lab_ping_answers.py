"""Which minions answered a lab ping (``salt --out=json --static ... test.ping``): only a
``True`` answer counts; while the master restarts the output is not JSON and none did
(the lab's waits ping again; the demo reports missing only the ones still silent)."""

from __future__ import annotations

import json

import pytest

from kubesalt.lab.demo import master_state
from kubesalt.lab.minions import answered

MASTER = "k8s-master.lab.kubesalt.test"
WORKER = "k8s-worker-0.lab.kubesalt.test"


def test_only_true_answers_count():
    stdout = json.dumps({MASTER: True, WORKER: "Minion did not return. [No response]"})
    assert answered(stdout) == {MASTER}


@pytest.mark.parametrize(
    "stdout",
    [
        pytest.param("", id="no-output"),
        pytest.param(
            "Salt request timed out. The master is not responding. You may need to run your "
            "command with `--async` in order to bypass the congested event bus.",
            id="master-restarting",
        ),
        pytest.param(json.dumps([MASTER]), id="not-a-mapping"),
        pytest.param(json.dumps({MASTER: "true"}), id="not-true"),
    ],
)
def test_no_minion_answered(stdout):
    assert answered(stdout) == set()


@pytest.mark.parametrize(
    ("output", "state"),
    [
        pytest.param("pending\n401\n5\n", (True, "401", 5), id="pending"),
        pytest.param("none\n977\n5\n", (False, "977", 5), id="restarted"),
        # Between the old master's exit and the new one's start: no pid file.
        pytest.param("none\n\n0\n", (False, "", 0), id="no-master"),
        pytest.param("none\n977\nss: not found\n", (False, "977", 0), id="no-ss"),
        pytest.param("", (False, "", 0), id="no-output"),
    ],
)
def test_master_state_read_without_a_salt_client(output, state):
    assert master_state(output) == state
