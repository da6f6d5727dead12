"""How `make test` spreads the suite over pytest-xdist workers (``--dist loadgroup``).

Every test file belongs to one group; a group runs whole, in collection order, on one worker.
By default a group is a file (what ``--dist loadfile`` does), so module-scoped fixtures (a
lab, a salt master) come up once. The lab modules that share one lab (``SHARED`` in
tests/support/lab.py) form one group, and so do the files that must not overlap
(:data:`ONE_AT_A_TIME`). Groups are worked out from the test's path by the scheduler
(:class:`GroupScheduling`, installed by tests/conftest.py for ``--dist loadgroup``):
pytest >= 9 ignores the node-id suffix through which pytest-xdist's own ``loadgroup`` reads
``xdist_group`` markers, so those would silently spread a file over several workers.

Labs of different workers run side by side: each worker has its own lab lock and state
directory (:func:`worker_lab_env`), as two engineers' labs on one machine do (a lab lives in
namespaces of its own); they come up one at a time (the start-up is CPU-heavy and has fixed
deadlines) and overlap afterwards. At most ``--lab-workers`` workers run a lab or integration group
(:data:`HEAVY_TIERS`) at a time; the others take the Terraform, simulator, functional and
unit files meanwhile.
tests/lab/test_safety.py is not in that run: it compares the machine's state before and
after its labs and runs alone, after it (see the Makefile).

Groups are handed out in the order their first test is collected (``--no-loadscope-reorder``;
:func:`plan` sorts the collection): the long ones first (:data:`TIER_ORDER`, then
:data:`LONGEST_FIRST`), so that no worker starts a 10-minute lab module at the end.
"""

from __future__ import annotations

import os
import pathlib

from xdist.scheduler import LoadScopeScheduling

from tests.support.lab import BOOT_LOCK_ENV
from tests.support.lab import SHARED

DEFAULT_LOCK_PATH = "/run/lock/kubesalt-lab.lock"
DEFAULT_STATE_DIR = "/var/lib/kubesalt/lab"
LAB_TIER = "tests/lab"
# Tiers whose groups start Salt daemons (labs, salt-factories masters and minions): at most
# ``--lab-workers`` workers run them at a time. Their start-up deadlines (the lab's 60 s for
# keys and pings, salt-factories' 120 s under CI) were missed at load 20-33 with more.
HEAVY_TIERS = (LAB_TIER, "tests/integration")

# Files that must not run at the same time as each other, in this order. They start
# processes in namespaces no lab supervisor owns (the overlay boots of cloud-init, unshare)
# or snapshot the machine's namespaces and count those no lab owns
# (tests/lab/test_labcloud_instances.py): run together, one would see the other's.
ONE_AT_A_TIME = {
    "machine-namespaces": (
        "tests/lab/test_labcloud_instances.py",
        "tests/integration/test_cloud_init_master_boot.py",
        "tests/terraform/test_cloud_init_boot.py",
        "tests/functional/states/test_host_states.py",
    ),
}

# Tiers in the order their groups are handed out: the lab modules take minutes each, the
# integration and Terraform ones tens of seconds to minutes, the rest seconds.
TIER_ORDER = (LAB_TIER, "tests/integration", "tests/terraform")

# Lab modules (file names) by their time in the last measured run, longest first
# (docs/benchmarks.md, "Test suite"); a module not listed goes after them.
LONGEST_FIRST = (
    "test_cluster_rollout.py",
    "test_plain_highstate.py",
    "test_cluster_ha.py",
    "test_maas_highstate.py",
    "test_maas.py",
    "test_cluster_upgrade.py",
    "test_labcloud_instances.py",
)


def worker_lab_env(environ, worker: str) -> dict[str, str]:
    """``KUBESALT_LAB_LOCK`` and ``KUBESALT_LAB_DIR`` of the xdist worker ``worker`` (gw0,
    gw1, ...): the run's own (or the defaults) with the worker's name added, so each worker's
    labs take a lock no other worker takes; and the run's one lock for lab start-ups
    (tests/support/lab.py ``one_boot_at_a_time``)."""
    lock = pathlib.Path(environ.get("KUBESALT_LAB_LOCK") or DEFAULT_LOCK_PATH)
    state = environ.get("KUBESALT_LAB_DIR") or DEFAULT_STATE_DIR
    return {
        "KUBESALT_LAB_LOCK": str(lock.with_name(f"{lock.stem}-{worker}{lock.suffix}")),
        "KUBESALT_LAB_DIR": f"{state.rstrip('/')}-{worker}",
        BOOT_LOCK_ENV: str(lock.with_name(f"{lock.stem}-boot{lock.suffix}")),
    }


def use_worker_lab_env() -> None:
    """In an xdist worker, point the labs it starts (and the ``kubesalt`` commands it runs)
    at the worker's own lock and state directory."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        os.environ.update(worker_lab_env(os.environ, worker))


def group_of(path: str) -> str:
    """The group of the test file ``path`` (relative to the repository, as in node ids)."""
    for name, paths in ONE_AT_A_TIME.items():
        if path in paths:
            return name
    directory, _, filename = path.rpartition("/")
    if directory == LAB_TIER:
        for name, modules in SHARED.items():
            if filename in modules:
                return f"{LAB_TIER}/shared-{name}"
    return path


def is_lab_group(paths) -> bool:
    """Whether the group starts Salt daemons: one of its files is in :data:`HEAVY_TIERS`."""
    return any(path.startswith(f"{tier}/") for path in paths for tier in HEAVY_TIERS)


def _rank(path: str) -> tuple[int, int]:
    tier = next((i for i, t in enumerate(TIER_ORDER) if path.startswith(f"{t}/")), len(TIER_ORDER))
    name = path.rpartition("/")[2]
    return (tier, LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST))


def plan(items: list) -> None:
    """Sort ``items`` (stably) so the groups of the long tiers come first; a group ranks as
    its first-ranked file, and keeps its tests' order (a ``SHARED`` chain depends on it)."""
    root = items[0].session.config.rootpath if items else None
    paths = {id(item): item.path.relative_to(root).as_posix() for item in items}
    rank: dict[str, tuple[int, int]] = {}
    for path in paths.values():
        group = group_of(path)
        rank[group] = min(rank.get(group, _rank(path)), _rank(path))
    items.sort(key=lambda item: rank[group_of(paths[id(item)])])


class GroupScheduling(LoadScopeScheduling):
    """``loadscope`` with :func:`group_of` as the scope, and at most ``--lab-workers`` nodes
    busy with a lab group at a time while other work is left (a node never idles: when only
    lab groups are left, it takes one)."""

    def __init__(self, config, log=None):
        super().__init__(config, log)
        self.lab_workers = max(1, config.getoption("lab_workers"))

    def _split_scope(self, nodeid: str) -> str:
        return group_of(nodeid.split("::", 1)[0])

    @staticmethod
    def _is_lab(work_unit) -> bool:
        return is_lab_group({nodeid.split("::", 1)[0] for nodeid in work_unit})

    def _assign_work_unit(self, node) -> None:
        busy = sum(
            any(self._is_lab(unit) and not all(unit.values()) for unit in work.values())
            for other, work in self.assigned_work.items()
            if other is not node
        )
        if busy >= self.lab_workers:
            other_work = [scope for scope, unit in self.workqueue.items() if not self._is_lab(unit)]
            if other_work:
                self.workqueue.move_to_end(other_work[0], last=False)
        super()._assign_work_unit(node)


def make_scheduler(config, log):
    """The scheduler of ``--dist loadgroup`` (hook ``pytest_xdist_make_scheduler``)."""
    return GroupScheduling(config, log)
