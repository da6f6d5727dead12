"""Functional tier for the microk8s modules: the real Salt loader over simulated hosts.

Each simulated host gets its own ``Loaders`` (its own minion opts): ``microk8s.snap_data``
points into the host's root and ``microk8s.bin``/``microk8s.snap_bin`` at its executables,
so one test can drive a control plane and a worker side by side. Addresses: 127.0.2.x only.
"""

import pytest

from tests.support.microk8s_sim import microk8s_sim  # noqa: F401  (the fixture)
from tests.support.microk8s_sim import microk8s_sim_module  # noqa: F401  (the fixture)
from tests.support.simminion import loaders_for


@pytest.fixture(scope="module")
def minion_config_overrides(tmp_path_factory):
    # An empty pillar: these tests exercise the modules, not the project's pillar tree.
    return {"pillar_roots": {"base": [str(tmp_path_factory.mktemp("empty-pillar"))]}}


@pytest.fixture
def minion_of(minion_opts):
    """Factory ``(node, **opts) -> Loaders`` for a minion that manages simulated ``node``."""
    created = []

    def make(node, **extra):
        loaders = loaders_for(minion_opts, node, **extra)
        created.append(loaders)
        return loaders

    yield make
    for loaders in created:
        loaders.reset_state()
