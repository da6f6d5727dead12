"""pytest helpers for the MicroK8s simulator.

Use in a conftest.py::

    from tests.support.microk8s_sim import microk8s_sim  # noqa: F401  (the fixture)

    def test_x(microk8s_sim):
        cp = microk8s_sim()                     # a SimNode on a free 127.0.1.x, under tmp_path
        cp.install("1.32/stable")
        assert cp.run(["microk8s", "status", "--format", "yaml"]).returncode == 0

``microk8s_sim_module`` is the same factory with module scope (one install shared by the
tests of a module). Every node's cluster agent is stopped at teardown, also when the test
fails. A node's address (``node.address``; the agents listen on ADDRESS:25000) is a free one
unless given: never give a fixed one (another test session may use it).
"""

from __future__ import annotations

import contextlib
import json
import textwrap

import pytest

from kubesalt.sim.microk8s import SimNode
from tests.support.addresses import free_loopback_address


def free_sim_address() -> str:
    """A 127.0.1.x (the simulator self-tests' range) whose cluster-agent port (25000) is
    free now, never handed out twice in this process: other test sessions run simulated
    nodes on this machine at the same time."""
    return free_loopback_address("127.0.1", 25000, range(2, 255), once=True)


@contextlib.contextmanager
def sim_nodes(base_dir):
    """Yield a factory ``(address, hostname=None, install=None) -> SimNode`` whose nodes live
    under BASE_DIR; on exit every node's daemons are stopped.

    ``install`` is a channel to install right away (e.g. ``"1.32/stable"``)."""
    nodes: list[SimNode] = []

    def make(
        address: str | None = None, hostname: str | None = None, install: str | None = None
    ) -> SimNode:
        address = address or free_sim_address()
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


def converge_sls(
    join_address: str, token: str, worker: bool, addons=(), register_token: bool = False
) -> str:
    """The SLS a node applies to converge: installed, running, joined through
    ``join_address``, ``addons`` enabled; with ``register_token`` the node also registers
    ``token`` (a bootstrap control plane)."""
    text = textwrap.dedent(
        f"""\
        mk8s-installed:
          microk8s.installed:
            - name: microk8s
            - channel: 1.32/stable
        mk8s-running:
          microk8s.running:
            - name: microk8s
            - require:
              - microk8s: mk8s-installed
        mk8s-joined:
          microk8s.cluster_joined:
            - name: {join_address}
            - token: {token}
            - worker: {worker}
            - require:
              - microk8s: mk8s-running
        """
    )
    for name in addons:
        text += (
            f"mk8s-addon-{name}:\n  microk8s.addon_enabled:\n    - name: {name}\n"
            "    - require:\n      - microk8s: mk8s-running\n"
        )
    if register_token:
        text += (
            "mk8s-token:\n  microk8s.token_registered:\n    - name: cluster\n"
            f"    - token: {token}\n    - ttl: 3600\n"
            "    - require:\n      - microk8s: mk8s-running\n"
        )
    return text


def add_node(node, *extra):
    """``microk8s add-node --format json`` on simulated ``node``: the join details."""
    result = node.run(["microk8s", "add-node", "--format", "json", *extra])
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
