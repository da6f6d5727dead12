"""One control plane and two workers form a cluster through Salt: master, three minions,
modules synced from the master, joins travelling over HTTPS to the cluster agent."""

import textwrap

import pytest
from saltfactories.utils import random_string

from kubesalt.sim.microk8s import SimNode

pytestmark = pytest.mark.timeout(600)

CONTROL_PLANE = "127.0.3.1"
WORKERS = ("127.0.3.2", "127.0.3.3")
# Per-node tokens as the pillar would carry them (never shown by the states).
TOKENS = {
    "127.0.3.2": "a" * 16 + "0123456789abcdef",
    "127.0.3.3": "b" * 16 + "0123456789abcdef",
}


@pytest.fixture(scope="module")
def cluster(salt_master, tmp_path_factory):
    minions = {}
    nodes = []
    root = tmp_path_factory.mktemp("mk8s-hosts")
    for address in (CONTROL_PLANE, *WORKERS):
        node = SimNode(root / address, address)
        nodes.append(node)
        factory = salt_master.salt_minion_daemon(
            random_string(f"mk8s-{address.rsplit('.', 1)[1]}-"),
            overrides={"microk8s.snap_data": str(node.root / "var/snap/microk8s/current")},
        )
        # A dict of its own (the factories manager hands every daemon the same one): this
        # minion runs its host's snap and microk8s.
        factory.environ = {**factory.environ, **node.env()}
        factory.start()
        minions[address] = (factory, node)
    sls_dir = salt_master.state_tree.base.write_path / "cluster"
    sls_dir.mkdir(exist_ok=True)
    (sls_dir / "control_plane.sls").write_text(
        textwrap.dedent(
            """\
            microk8s-installed:
              microk8s.installed:
                - name: microk8s
                - channel: 1.32/stable
            microk8s-running:
              microk8s.running:
                - name: microk8s
                - require:
                  - microk8s: microk8s-installed
            {% for token in pillar['tokens'] %}
            microk8s-token-{{ loop.index }}:
              microk8s.token_registered:
                - name: node-{{ loop.index }}
                - token_pillar: tokens:{{ loop.index0 }}
                - ttl: 3600
                - require:
                  - microk8s: microk8s-running
            {% endfor %}
            """
        ),
    )
    (sls_dir / "worker.sls").write_text(
        textwrap.dedent(
            f"""\
            microk8s-installed:
              microk8s.installed:
                - name: microk8s
                - channel: 1.32/stable
            microk8s-joined:
              microk8s.cluster_joined:
                - name: {CONTROL_PLANE}:25000
                - token: {{{{ pillar['token'] }}}}
                - worker: true
                - require:
                  - microk8s: microk8s-installed
            """
        ),
    )
    try:
        yield minions
    finally:
        for factory, _node in minions.values():
            factory.terminate()
        for node in nodes:
            node.stop_daemons()


def test_cluster_forms_through_salt(salt_cli, cluster):
    ids = [factory.id for factory, _ in cluster.values()]
    ret = salt_cli.run("saltutil.sync_all", minion_tgt="mk8s-*")
    assert ret.returncode == 0, ret.stderr
    for mid in ids:
        assert "modules.microk8s" in ret.data[mid]["modules"]
        assert "states.microk8s" in ret.data[mid]["states"]

    cp_factory, _ = cluster[CONTROL_PLANE]
    ret = salt_cli.run(
        "state.apply",
        "cluster.control_plane",
        pillar={"tokens": list(TOKENS.values())},
        minion_tgt=cp_factory.id,
    )
    assert ret.returncode == 0, ret.stdout
    assert all(r["result"] is True for r in ret.data.values()), ret.data
    for state in ret.data.values():  # a token never appears in what the state returns
        assert not any(token in str(state) for token in TOKENS.values())

    for address in WORKERS:
        factory, _ = cluster[address]
        ret = salt_cli.run(
            "state.apply",
            "cluster.worker",
            pillar={"token": TOKENS[address]},
            minion_tgt=factory.id,
        )
        assert ret.returncode == 0, ret.stdout
        assert all(r["result"] is True for r in ret.data.values()), ret.data
        assert not any(TOKENS[address] in str(r) for r in ret.data.values())

    ret = salt_cli.run("microk8s.nodes", minion_tgt=cp_factory.id)
    assert ret.returncode == 0, ret.stderr
    roles = {node["address"]: node["roles"] for node in ret.data}
    assert set(roles) == {CONTROL_PLANE, *WORKERS}
    for address in WORKERS:
        assert "worker" in roles[address]
        factory, _ = cluster[address]
        status = salt_cli.run("microk8s.status", minion_tgt=factory.id).data
        assert status["role"] == "worker"

    # Converged: a second run changes nothing anywhere.
    for address, (factory, _) in cluster.items():
        sls = "cluster.control_plane" if address == CONTROL_PLANE else "cluster.worker"
        pillar = (
            {"tokens": list(TOKENS.values())}
            if address == CONTROL_PLANE
            else {"token": TOKENS[address]}
        )
        ret = salt_cli.run("state.apply", sls, pillar=pillar, minion_tgt=factory.id)
        assert ret.returncode == 0
        assert all(not r["changes"] for r in ret.data.values()), ret.data
