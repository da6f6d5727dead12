"""pytest helpers for the MicroK8s simulator.

Use in a conftest.py::

    from tests.support.microk8s_sim import microk8s_sim  # noqa: F401  (the fixture)

    def test_x(microk8s_sim):
        cp = microk8s_sim("127.0.1.1")          # a SimNode rooted under tmp_path
        cp.install("1.32/stable")
        assert cp.run(["microk8s", "status", "--format", "yaml"]).returncode == 0

``microk8s_sim_module`` is the same factory with module scope (one install shared by the
tests of a module). Every node's cluster agent is stopped at teardown, also when the test
fails. Give each test its own addresses (the agents listen on ADDRESS:25000).
"""

from __future__ import annotations

import contextlib

import pytest

from kubesalt.sim.microk8s import SimNode


@contextlib.contextmanager
def sim_nodes(base_dir):
    """Yield a factory ``(address, hostname=None, install=None) -> SimNode`` whose nodes live
    under BASE_DIR; on exit every node's daemons are stopped.

    ``install`` is a channel to install right away (e.g. ``"1.32/stable"``)."""
    nodes: list[SimNode] = []

    def make(address: str, hostname: str | None = None, install: str | None = None) -> SimNode:
        node = SimNode(base_dir / f"host-{address}", address, hostname)
        nodes.append(node)
        if install:
            node.install(install)
        return node

    try:
        yield make
    finally:
        for node in nodes:
            node.stop_daemons()


@pytest.fixture
def microk8s_sim(tmp_path):
    """Factory of SimNodes under the test's tmp_path; daemons stopped at teardown."""
    with sim_nodes(tmp_path) as make:
        yield make


@pytest.fixture(scope="module")
def microk8s_sim_module(tmp_path_factory):
    """Module-scoped factory of SimNodes; daemons stopped after the module's tests."""
    with sim_nodes(tmp_path_factory.mktemp("microk8s-sim")) as make:
        yield make
