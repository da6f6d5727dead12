"""Fixtures of the lab tests: skip with the reason when the machine cannot run a lab (fail
instead under CI=true: tests/support/lab_policy.py).

A lab is expensive to bring up (15-30 s with Salt), so the tests share one per module, and
the modules listed together in ``SHARED`` share one lab between them: they run one after
the other, in the order listed (the collection is reordered so, and under pytest-xdist one
worker runs them all: tests/support/parallel.py), each leaving the lab as the next one needs it.
One lab at a time per lock: a fixture waits (bounded) for another lab on the same lock to
go down before it starts its own (tests/support/lab.py); each xdist worker has its own lock
and state directory (tests/support/parallel.py), so the workers' labs run side by side.
"""

from __future__ import annotations

import tempfile

import pytest

from kubesalt.lab import requirements_problem
from kubesalt.lab.lab import running_lab
from tests.support import lab_policy
from tests.support.lab import POOL
from tests.support.lab import SHARED
from tests.support.lab import lab_up

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
    grouped (``SHARED``): together in the collection (and under `make test`'s pytest-xdist
    run, on one worker: tests/support/parallel.py)."""
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
