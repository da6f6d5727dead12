"""A plain ``salt '*' state.highstate`` on a fresh lab, as a new user runs it: no
orchestration, nothing applied before (``lab up``, ``saltutil.sync_all``, then highstate).

Two labs, one after the other (a module-scoped fixture with two parameters): one control
plane and two workers; three control planes and two workers. Each converges within two
runs and a third reports no change and no failure, every node Ready. The salt_master state
changes the master's configuration in the first run: the master restarts only once it is
idle (no sleep), so no highstate return is lost and the command never loses its master.
On the first lab, the master is also restarted by hand in the middle of a highstate:
every minion returns and answers afterwards.
"""

from __future__ import annotations

import time
import types

import pytest

from tests.support.lab import lab_up
from tests.support.lab_salt import changed_states
from tests.support.lab_salt import failed_states
from tests.support.lab_salt import salt_json
from tests.support.lab_salt import wait_for_master
from tests.support.lab_salt import wait_for_master_restart

DOMAIN = "lab.kubesalt.test"
BOOTSTRAP = f"k8s-master.{DOMAIN}"
MAX_RUNS_TO_CONVERGE = 2
# The salt command's own wait for returns (-t): on a loaded machine the minions' answers to
# its job-status probes come late, and it would give up on jobs still running.
WAIT = "300"


def salt_all(lab, *argv):
    return salt_json(lab, ["salt", "--out=json", "--static", "-t", WAIT, "*", *argv])


@pytest.fixture(scope="module", params=[(1, 2), (3, 2)], ids=["1cp-2workers", "3cp-2workers"])
def fresh(request, tmp_path_factory):
    """The lab after ``sync_all`` and three plain highstates: each run's return and wall."""
    control_planes, workers = request.param
    with lab_up(tmp_path_factory, workers=workers, control_planes=control_planes) as lab:
        minions = sorted(h.minion_id for h in lab.hosts() if h.runs_salt)
        synced = salt_all(lab, "saltutil.sync_all")
        assert sorted(synced) == minions, synced
        runs = []
        for _ in range(3):
            started = time.monotonic()
            doc = salt_all(lab, "state.highstate")
            runs.append(types.SimpleNamespace(doc=doc, seconds=time.monotonic() - started))
            # A changed master configuration restarts the master once it is idle.
            wait_for_master_restart(lab)
        yield types.SimpleNamespace(
            lab=lab,
            minions=minions,
            runs=runs,
            k8s_nodes=control_planes + workers,
            first_restart=request.param == (1, 2),
        )


def converged(run, minions):
    return sorted(run.doc) == minions and not failed_states(run.doc)


def test_converges_within_two_runs_then_a_clean_third(fresh, record_property):
    walls = [round(run.seconds, 1) for run in fresh.runs]
    record_property("highstate_walls", walls)
    print(f"plain highstate walls: {walls}")
    needed = next(
        (i + 1 for i, run in enumerate(fresh.runs) if converged(run, fresh.minions)), None
    )
    assert needed is not None and needed <= MAX_RUNS_TO_CONVERGE, [
        failed_states(run.doc) for run in fresh.runs
    ]
    third = fresh.runs[2].doc
    assert sorted(third) == fresh.minions
    assert failed_states(third) == {}
    assert {m: c for m, c in changed_states(third).items() if c} == {}


def test_every_node_ready(fresh):
    doc = salt_json(fresh.lab, ["salt", "--out=json", "--static", BOOTSTRAP, "microk8s.nodes"])
    nodes = doc[BOOTSTRAP]
    assert isinstance(nodes, list), nodes
    assert len(nodes) == fresh.k8s_nodes
    assert all(node["ready"] for node in nodes), nodes


def test_join_tokens_without_the_masters_state(fresh):
    """The secret was created by the pillar compiled on the master, as the master's user."""
    secret = "/etc/salt/pki/master/kubesalt/join.secret"
    modes = fresh.lab.exec(
        "salt", ["stat", "-c", "%a %U", secret, "/etc/salt/pki/master"], check=True
    ).stdout.split("\n")
    assert modes[0].split() == ["600", modes[1].split()[1]]


def test_master_restart_in_the_middle_of_a_highstate(fresh):
    if not fresh.first_restart:
        pytest.skip("once is enough: on the first lab")
    lab = fresh.lab
    started = lab.exec(
        "salt", ["salt", "--async", "--out=txt", "*", "state.highstate"], check=True
    ).stdout
    jid = started.strip().split()[-1]
    assert jid.isdigit(), started
    time.sleep(2)  # the minions are running it now
    lab.exec("salt", ["service", "salt-master", "restart"], check=True, timeout=120)
    wait_for_master(lab, timeout=120)
    deadline = time.monotonic() + 300
    while True:
        returns = salt_json(lab, ["salt-run", "--out=json", "jobs.lookup_jid", jid])
        if sorted(returns) == fresh.minions or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert sorted(returns) == fresh.minions, f"lost returns of {set(fresh.minions) - set(returns)}"
    assert failed_states(returns) == {}
    ping = salt_all(lab, "test.ping")
    assert ping == dict.fromkeys(fresh.minions, True)
