"""Fixtures of the lab tests: skip with the reason when the machine cannot run a lab (fail
instead under CI=true: tests/support/lab_policy.py).

A lab is expensive to bring up (15-30 s with Salt), so the tests share one per module, and
the modules listed together in ``SHARED`` share one lab between them: they run one after
the other, in the order listed (the collection is reordered so), each leaving the lab as
the next one needs it. One lab at a time per machine: a fixture waits (bounded) for another
lab on the machine to go down before it starts its own (tests/support/lab.py).
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import tempfile

import pytest

from kubesalt.lab import requirements_problem
from kubesalt.lab.lab import running_lab
from tests.support import lab_policy
from tests.support.lab import LOCK_WAIT  # noqa: F401 (re-exported for the lab modules)
from tests.support.lab import POOL
from tests.support.lab import lab_up

# Modules that run on one lab (salt, bastion, one control plane, two workers), in this
# order: the restarts need minions that have just come up; test_salt only reads (its
# module sync is the first one); the roll-out needs hosts no state has touched yet.
# (test_cluster_upgrade keeps a lab of its own: on the shared lab its backup/restore test
# failed once, not understood yet.)
SHARED = {
    "cluster": (
        "test_master_restart.py",
        "test_salt.py",
        "test_cluster_rollout.py",
    ),
}
MODULE_ORDER = pytest.StashKey[list]()


LAB_FIXTURES = {"salt_lab", "cluster_lab", "net_lab", "lab_dir", "needs_lab"}


def _user_lab_problem() -> str | None:
    """A lab a user left up (e.g. by `make demo`) holds the machine-wide lock for good:
    the lab tests skip saying so instead of waiting for it. Another test run's lab (in a
    temporary directory) goes down by itself: the tests wait for it (LOCK_WAIT)."""
    holder = running_lab()
    if holder is None or holder.startswith(tempfile.gettempdir()):
        return None
    return (
        f"a lab is up on this machine (state in {holder}, e.g. left by `make demo`): "
        "run `.venv/bin/kubesalt lab down` to run the lab tests"
    )


def _shared_name(module: str) -> str | None:
    return next((name for name, modules in SHARED.items() if module in modules), None)


def _group_shared_modules(items: list) -> None:
    """Reorder ``items`` in place: the modules of each ``SHARED`` group run together, in the
    group's order, where the first of them would have run."""
    rank = {}
    for name, modules in SHARED.items():
        rank.update({module: (name, position) for position, module in enumerate(modules)})
    first_index = {}
    for index, item in enumerate(items):
        name = rank.get(item.path.name, (None,))[0]
        if name is not None:
            first_index.setdefault(name, index)

    def key(indexed):
        index, item = indexed
        name, position = rank.get(item.path.name, (None, 0))
        return (first_index[name], position, index) if name else (index, 0, index)

    items[:] = [item for _index, item in sorted(enumerate(items), key=key)]


def pytest_collection_modifyitems(config, items):
    """Tests using a lab get the ``lab`` marker; if no lab can run they skip with the reason,
    or fail under CI (:mod:`tests.support.lab_policy`). The modules sharing a lab are
    grouped (``SHARED``)."""
    _group_shared_modules(items)
    order = []
    for item in items:
        if not order or order[-1] != item.path.name:
            order.append(item.path.name)
    config.stash[MODULE_ORDER] = order
    problem = requirements_problem()
    for item in items:
        if LAB_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.lab)
        if item.get_closest_marker("lab") is None:
            continue
        problem = problem or _user_lab_problem()
        decided = lab_policy.outcome(problem)
        if decided and decided[0] == "skip":
            item.add_marker(pytest.mark.skip(reason=decided[1]))
        elif decided:
            item.add_marker(pytest.mark.lab_cannot_run(decided[1]))


def pytest_sessionfinish(session):
    POOL.release()  # a pooled lab never outlives the run (also after an interrupted one)


def pytest_runtest_setup(item):
    marker = item.get_closest_marker("lab_cannot_run")
    if marker is not None:
        pytest.fail(marker.args[0], pytrace=False)


@pytest.fixture
def needs_lab():
    """Marks a test as needing a machine that can run a lab (root, namespaces, overlayfs)."""


@pytest.fixture
def lab_dir(tmp_path_factory, needs_lab):
    """A fresh state directory for one lab."""
    return tmp_path_factory.mktemp("kubesalt-lab")


def _processes() -> dict[int, tuple[int, str, dict]]:
    """pid -> (parent pid, command line, namespaces) of every process we can read."""
    table = {}
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = (entry / "stat").read_text()
            namespaces = {kind: os.readlink(entry / "ns" / kind) for kind in ("pid", "net", "mnt")}
        except OSError:
            continue  # exited while we looked
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        table[int(entry.name)] = (parent, cmdline.strip(), namespaces)
    return table


def _owner(pid: int, table: dict) -> str | None:
    """The state directory of the lab supervisor ``pid`` descends from, if any."""
    for _ in range(64):  # bounded walk up the process tree
        if pid not in table:
            return None
        parent, cmdline, _namespaces = table[pid]
        if "kubesalt.lab.supervisor" in cmdline:
            return cmdline.split()[-1]
        pid = parent
    return None


def machine_snapshot(state_dir: pathlib.Path | None = None) -> dict:
    """What a lab may never leave behind on the machine.

    ``namespaces``: the PID, network and mount namespaces other than ours that have a
    process (every lab process is in one); ``processes``: processes in our namespaces whose
    command line names a lab (supervisor, keepers). Another engineer's lab on this shared
    machine may come and go meanwhile: its namespaces and processes (those of processes
    descending from a supervisor of another state directory) are left out, and
    :func:`assert_nothing_left` checks that nothing *new* remains.
    """
    own = {kind: os.readlink(f"/proc/self/ns/{kind}") for kind in ("pid", "net", "mnt")}
    table = _processes()
    ours = str(state_dir) if state_dir else None
    owner_of_namespace = {}
    owners = {}
    for pid, (_parent, _cmdline, theirs) in table.items():
        owners[pid] = _owner(pid, table)
        if owners[pid]:
            for kind, value in theirs.items():
                if value != own[kind]:
                    owner_of_namespace[value] = owners[pid]
    namespaces = set()
    processes = set()
    for pid, (_parent, cmdline, theirs) in table.items():
        foreign = {value for kind, value in theirs.items() if value != own[kind]}
        namespaces |= {ns for ns in foreign if owner_of_namespace.get(ns, ours) == ours}
        named = "kubesalt.lab" in cmdline or (ours and ours in cmdline)
        if named and not foreign and owners[pid] in (None, ours):
            processes.add((pid, cmdline))
    return {
        "mounts": pathlib.Path("/proc/mounts").read_text(),
        "netns": subprocess.run(
            ["ip", "netns", "list"], capture_output=True, text=True, check=True
        ).stdout,
        "links": subprocess.run(
            ["ip", "-o", "link"], capture_output=True, text=True, check=True
        ).stdout,
        "addresses": subprocess.run(
            ["ip", "-o", "addr"], capture_output=True, text=True, check=True
        ).stdout,
        "namespaces": namespaces,
        "processes": processes,
    }


def leftovers(before: dict, after: dict) -> dict:
    """What ``after`` has that ``before`` had not: mounts, interfaces, namespaces, processes."""
    left = {}
    for key in ("mounts", "netns", "links", "addresses"):
        if after[key] != before[key]:
            left[key] = (before[key], after[key])
    for key in ("namespaces", "processes"):
        new = after[key] - before[key]
        if new:
            left[key] = new
    return left


def assert_nothing_left(before: dict, after: dict) -> None:
    left = leftovers(before, after)
    assert not left, f"the lab left these behind: {left}"


@pytest.fixture(scope="module")
def cluster_lab(request, tmp_path_factory):
    """A lab with Salt (salt, bastion, one control plane, two workers): the one the modules
    of ``SHARED["cluster"]`` share, else one for this module alone. Taken down after the
    last module that uses it."""
    module = request.path.name
    name = _shared_name(module) or module
    lab = POOL.get(name, tmp_path_factory, workers=2, control_planes=1)
    yield lab
    order = request.config.stash.get(MODULE_ORDER, [])
    following = order[order.index(module) + 1] if module in order[:-1] else None
    if following is None or _shared_name(following) != name:
        POOL.release()


@pytest.fixture(scope="module")
def salt_lab(cluster_lab):
    """A lab with Salt (salt, bastion, one control plane, two workers)."""
    return cluster_lab


@pytest.fixture(scope="module")
def net_lab(tmp_path_factory):
    """A lab without Salt daemons (hosts and network only), for one module."""
    with lab_up(tmp_path_factory, workers=2, control_planes=2, salt=False) as lab:
        yield lab


# What Salt's official Debian packages give a master (saltstack/salt pkg/debian:
# salt-master.postinst, salt-master.dirs; the daemon's own verify_env at start).
MASTER_OWNED_BY_SALT = (
    "/etc/salt/master.d",
    "/var/cache/salt/master",
    "/var/cache/salt/master/jobs",
    "/var/log/salt/master",
    "/var/log/salt/key",
    "/run/salt/master",
)


def assert_master_runs_as_salt(lab, pki_dir: str = "/etc/salt/pki/master") -> None:
    """Every salt-master process of the lab's master runs as ``salt`` and the master's
    directories, keys and logs are ``salt``'s, as the packages leave them."""
    ps = lab.exec("salt", ["ps", "-eo", "user:16,args"], check=True).stdout.splitlines()
    masters = [line.split(None, 1) for line in ps if "salt-master" in line and "ps -eo" not in line]
    assert len(masters) >= 2, ps  # the main process and its workers
    assert {user for user, _args in masters} == {"salt"}, masters
    paths = [*MASTER_OWNED_BY_SALT, pki_dir, f"{pki_dir}/master.pem", f"{pki_dir}/minions"]
    # -L: Salt 3008 leaves master.pem as a (root's) symlink to <master id>.pem.
    # (The key pair itself is the daemon's: it writes it salt:root.)
    stat = lab.exec("salt", ["stat", "-L", "-c", "%n %U %a", *paths], check=True).stdout
    owners = {line.split()[0]: line.split()[1:] for line in stat.splitlines()}
    assert {path: owner for path, (owner, _mode) in owners.items()} == dict.fromkeys(paths, "salt")
    assert owners[f"{pki_dir}/master.pem"][1] == "400"
    assert owners["/var/log/salt/master"][1] == "640"
    passwd = lab.exec("salt", ["getent", "passwd", "salt"], check=True).stdout.strip()
    assert passwd.split(":")[6] == "/usr/sbin/nologin"  # a system user without a login
