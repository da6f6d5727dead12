"""Minions come back by themselves after `service salt-master restart`, three times in a
row, right after they came up (what the bootstrap and the salt_master state do).

On Salt 3007.15-3007.17 a minion whose re-authentication races the restart logs
``'AsyncAuth' object has no attribute '_creds'`` and stays "Not connected" for good
(saltstack/salt#67947, fixed in 3008.3): 1, 0 and 2 of 5 minions were lost in three labs.
"""

from __future__ import annotations

import json
import time

import pytest

from kubesalt.lab.lab import LabError
from tests.support.lab_salt import MINIONS

RESTARTS = 3
# Every minion must answer within this after each restart. The target is 30 s on an idle
# machine (docs/benchmarks.md); the bound leaves room for a loaded, shared machine, while a
# lost minion never comes back at all (minion reconnects retry every few seconds).
ANSWER_BOUND = 90.0


@pytest.fixture(scope="module")
def fresh_lab(cluster_lab):
    """A lab whose minions have just come up: nothing else runs before the restarts (this
    module comes first on the shared lab, tests/lab/conftest.py SHARED)."""
    return cluster_lab


def _restart_and_wait(lab) -> float:
    lab.exec("salt", ["service", "salt-master", "restart"], check=True)
    started = time.monotonic()
    lab.wait_for_minions(MINIONS, timeout=ANSWER_BOUND)
    return time.monotonic() - started


def test_every_minion_answers_after_each_of_three_master_restarts(fresh_lab):
    seconds = []
    for attempt in range(1, RESTARTS + 1):
        try:
            seconds.append(_restart_and_wait(fresh_lab))
        except LabError as exc:
            pytest.fail(f"restart {attempt} of {RESTARTS} (after {seconds} s): {exc}")
    print(f"seconds until every minion answered, per restart: {[round(s, 1) for s in seconds]}")
    run = fresh_lab.salt(["--out=json", "--static", "--timeout=30", "*", "test.ping"])
    assert json.loads(run.stdout) == dict.fromkeys(MINIONS, True)


def test_no_minion_logged_the_failed_reauthentication(fresh_lab):
    for minion in MINIONS:
        host = minion.split(".", 1)[0]
        log = fresh_lab.exec(host, ["cat", "/var/log/salt/minion"], check=True).stdout
        assert "has no attribute '_creds'" not in log, host
