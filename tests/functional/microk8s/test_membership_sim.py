"""The bootstrap control plane's view of the cluster (``cluster.membership``) on simulated
hosts whose host names differ from their minion ids, as MAAS-deployed or pre-existing hosts'
do: nodes are matched by InternalIP, the local node is never removed, and nothing is removed
when nothing matches."""

import pytest

from tests.support.simminion import free_address

TOKEN = "5a4b3c2d1e0f11223344556677889900"


@pytest.fixture
def cluster(microk8s_sim, minion_of):
    """A control plane named calm-otter with two joined workers, brave-fox and old-worker."""
    cp_node = microk8s_sim(free_address(), hostname="calm-otter", install="1.32/stable")
    cp = minion_of(cp_node)
    workers, minions = {}, {}
    for name in ("brave-fox", "old-worker"):
        node = microk8s_sim(free_address(), hostname=name, install="1.32/stable")
        node.set_knobs(join_seconds=0)
        token = f"{TOKEN[:-2]}{len(workers):02d}"
        assert cp.states.microk8s.token_registered(name, token=token, ttl=600).result is True
        joined = minion_of(node).states.microk8s.cluster_joined(
            cp_node.address, token=token, worker=True
        )
        assert joined.result is True, joined.comment
        workers[name] = node
        minions[name] = minion_of(node)
    names = {node["name"] for node in cp.modules.microk8s.nodes()}
    assert names == {"calm-otter", "brave-fox", "old-worker"}
    return cp_node, cp, workers, minions


def config(cp_ip, worker_ips):
    workers = [f"k8s-worker-{i}.lab.kubesalt.test" for i in range(len(worker_ips))]
    nodes = {"k8s-master.lab.kubesalt.test": {"private_ip": cp_ip}}
    nodes.update({w: {"private_ip": ip} for w, ip in zip(workers, worker_ips, strict=True)})
    return {
        "networks": {"private_cidr": "127.0.0.0/8"},
        "nodes": nodes,
        "microk8s": {"control_planes": ["k8s-master.lab.kubesalt.test"], "workers": workers},
    }


def test_nodes_matched_by_internal_ip_never_the_local_one(cluster):
    cp_node, cp, workers, minions = cluster
    both = [n.address for n in workers.values()]
    # Names differ from the minion ids' first labels: nothing is stale, nothing pending.
    assert cp.modules.cluster.membership(config(cp_node.address, both)) == {
        "pending": [],
        "stale": [],
    }
    # The inventory lists other addresses than the cluster's (a wrong network): nothing is
    # removed, and the control plane itself, whatever its name, is never a candidate.
    assert cp.modules.cluster.membership(config("127.0.3.1", ["127.0.3.2"])) == {
        "pending": ["k8s-worker-0.lab.kubesalt.test"],
        "stale": [],
    }
    assert cp.modules.cluster.membership(config("127.0.3.1", both))["stale"] == []

    # old-worker left the inventory: it alone is stale, and is removed.
    found = cp.modules.cluster.membership(config(cp_node.address, [workers["brave-fox"].address]))
    assert found == {"pending": [], "stale": ["old-worker"]}
    minions["old-worker"].modules.microk8s.leave()
    removed = cp.states.microk8s.node_removed("old-worker")
    assert removed.result is True, removed.comment
    assert removed.changes == {"node": {"old": "present", "new": "absent"}}
    assert cp.states.microk8s.node_removed("old-worker").changes == {}
    # The others stay (a removal plan for them would show changes).
    for name in ("calm-otter", "brave-fox"):
        assert cp.states.microk8s.node_removed(name, test=True).changes
