"""salt_master's idle-time restart on a scripted world: a clock, the host's processes over
time, the master's runner answers. The restart must never land on a Salt client that is
running at that moment (the orchestration a user starts right after another)."""

import pytest

from tests.support.loading import load_ext

salt_master = load_ext("modules", "salt_master")

ORCH_MAAS = [401, ["/opt/saltstack/salt/bin/python3.10", "/usr/bin/salt-run", "state.orchestrate"]]


class World:
    """A fake clock and the master host's processes as a function of it. Each runner call
    (``jobs.master``, ``jobs.active``) takes ``runner_seconds``, as on a loaded master."""

    def __init__(self, clients=(), runner_seconds=1.5):
        self.now = 0.0
        self.clients = list(clients)  # (start, end, (pid, argv))
        self.runner_seconds = runner_seconds
        self.restarts = []  # (time, clients running then)
        self.schedule = {salt_master.MASTER_RESTART_JOB: {}}

    def processes(self):
        return [proc for start, end, proc in self.clients if start <= self.now < end]

    def sleep(self, seconds):
        self.now += seconds

    def runner(self, fun, **kwargs):
        self.now += self.runner_seconds
        return [] if fun == "jobs.master" else {}

    def restart(self, service):
        self.restarts.append((self.now, [pid for pid, _ in self.processes()]))
        return True

    def salt(self):
        return {
            "saltutil.runner": self.runner,
            "schedule.list": lambda return_yaml=False: dict(self.schedule),
            "schedule.delete": lambda name, persist=True: self.schedule.pop(name, None),
            "service.restart": self.restart,
        }


@pytest.fixture
def world(monkeypatch):
    def install(world):
        monkeypatch.setattr(salt_master, "__salt__", world.salt(), raising=False)
        monkeypatch.setattr(salt_master, "_processes", world.processes)
        monkeypatch.setattr(salt_master, "_ancestors", lambda: [])
        monkeypatch.setattr(salt_master.time, "monotonic", lambda: world.now)
        monkeypatch.setattr(salt_master.time, "sleep", world.sleep)
        return world

    return install


def test_restarts_once_idle_and_removes_its_schedule_job(world):
    w = world(World())
    assert salt_master.restart_master_when_idle(interval=2) == "salt-master restarted"
    assert [pids for _, pids in w.restarts] == [[]]
    assert salt_master.MASTER_RESTART_JOB not in w.schedule


def test_a_client_started_after_the_last_look_defers_the_restart(world):
    # The two idle looks see nothing (each: the runner calls, then the process scan); the
    # next orchestration starts while the second look's answers come in. Restarting now
    # would lose its first jobs (published before the minions reconnect).
    w = world(World(clients=[(7.5, 30.0, ORCH_MAAS)]))
    salt_master.restart_master_when_idle(interval=2)
    assert len(w.restarts) == 1
    when, running = w.restarts[0]
    assert running == [], f"restarted at t={when} under {running}"
    assert when >= 30.0


def test_a_client_running_throughout_holds_the_restart_until_the_timeout(world):
    w = world(World(clients=[(0.0, 10_000.0, ORCH_MAAS)]))
    salt_master.restart_master_when_idle(timeout=60, interval=2)
    assert len(w.restarts) == 1 and 60 <= w.restarts[0][0] < 80


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timeout": "soon"}, "timeout: expected seconds, got 'soon'"),
        ({"timeout": -1}, "timeout: expected 0 to 86400 seconds, got -1"),
        ({"interval": "x"}, "interval: expected seconds, got 'x'"),
    ],
)
def test_bad_arguments_are_refused_before_anything_happens(world, kwargs, message):
    from salt.exceptions import SaltInvocationError

    w = world(World())
    with pytest.raises(SaltInvocationError, match=message):
        salt_master.restart_master_when_idle(**kwargs)
    assert w.restarts == [] and salt_master.MASTER_RESTART_JOB in w.schedule
