"""Functional tier for the microk8s modules: the real Salt loader over simulated hosts.

Each simulated host gets its own ``Loaders`` (its own minion opts): ``microk8s.snap_data``
points into the host's root and ``microk8s.bin``/``microk8s.snap_bin`` at its executables,
so one test can drive a control plane and a worker side by side. Addresses: 127.0.2.x only.
"""

import copy
import itertools

import pytest
from saltfactories.utils.functional import Loaders

from tests.support.microk8s_sim import microk8s_sim  # noqa: F401  (the fixture)

_LOADER_IDS = itertools.count()


class SimLoaders(Loaders):
    """Loaders that detect the grains once per session (2 s each time otherwise)."""

    _session_grains = None

    @property
    def grains(self):
        if SimLoaders._session_grains is None:
            SimLoaders._session_grains = copy.deepcopy(dict(super().grains))
        return SimLoaders._session_grains


@pytest.fixture(scope="module")
def minion_config_overrides(tmp_path_factory):
    # An empty pillar: these tests exercise the modules, not the project's pillar tree.
    return {"pillar_roots": {"base": [str(tmp_path_factory.mktemp("empty-pillar"))]}}


def sim_opts(node, **extra):
    """Minion options that point the microk8s module at simulated host ``node``."""
    opts = {
        "microk8s.snap_data": str(node.root / "var/snap/microk8s/current"),
        "microk8s.bin": str(node.root / "snap/bin/microk8s"),
        "microk8s.snap_bin": str(node.snap_path),
        "microk8s.node_address": node.address,
        "microk8s.join_backoff": 0.1,
        "microk8s.join_attempts": 3,
        "microk8s.ready_timeout": 30,
    }
    opts.update(extra)
    return opts


@pytest.fixture
def minion_of(minion_opts):
    """Factory ``(node, **opts) -> Loaders`` for a minion that manages simulated ``node``."""
    created = []

    def make(node, **extra):
        opts = copy.deepcopy(minion_opts)
        opts.update(sim_opts(node, **extra))
        loaders = SimLoaders(opts, loaded_base_name=f"kubesalt_mk8s_{next(_LOADER_IDS)}.loaded")
        created.append(loaders)
        return loaders

    yield make
    for loaders in created:
        loaders.reset_state()
