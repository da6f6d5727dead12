"""pytest helpers for the MicroK8s simulator.

Use in a conftest.py::

    from tests.support.microk8s_sim import microk8s_sim  # noqa: F401  (the fixture)

    def test_x(microk8s_sim):
        cp = microk8s_sim("127.0.1.1")          # a SimNode rooted under tmp_path
        cp.install("1.32/stable")
        assert cp.run(["microk8s", "status", "--format", "yaml"]).returncode == 0

Every node's cluster agent is stopped at teardown, also when the test fails. Give each test
its own addresses (the agents listen on ADDRESS:25000).
"""

from __future__ import annotations

import pytest

from kubesalt.sim.microk8s import SimNode


@pytest.fixture
def microk8s_sim(tmp_path):
    """Factory ``(address, hostname=None, install=None) -> SimNode``.

    ``install`` is a channel to install right away (e.g. ``"1.32/stable"``)."""
    nodes: list[SimNode] = []

    def make(address: str, hostname: str | None = None, install: str | None = None) -> SimNode:
        node = SimNode(tmp_path / f"host-{address}", address, hostname)
        nodes.append(node)
        if install:
            node.install(install)
        return node

    try:
        yield make
    finally:
        for node in nodes:
            node.stop_daemons()
