"""Node maintenance in the simulator: cordon/uncordon/drain with kubectl's texts and exit codes,
PodDisruptionBudgets, node versions in ``kubectl get nodes``, and the refresh knobs."""

import json

import pytest

from tests.support.microk8s_sim import add_node

POD = """apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: default
  labels: {{app: web}}
  ownerReferences:
  - {{apiVersion: apps/v1, kind: ReplicaSet, name: web-5d4f8c7b9, controller: true, uid: x}}
spec:
  nodeName: {node}
"""
PDB = """apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {{name: web, namespace: default}}
spec:
  minAvailable: {min_available}
  selector: {{matchLabels: {{app: web}}}}
"""


def kubectl(node, *args, stdin=None):
    return node.run(["microk8s", "kubectl", *args], input=stdin)


@pytest.fixture(scope="module")
def cluster(microk8s_sim_module):
    """A control plane and two workers named node-127-0-1-222/223 (names only, kept from the
    fixed addresses these nodes once had; as long as any node-127-0-1-x, so tables keep
    their column widths whatever free address each node gets)."""
    cp = microk8s_sim_module(install="1.32/stable")
    workers = [
        microk8s_sim_module(hostname=f"node-127-0-1-{n}", install="1.32/stable") for n in (222, 223)
    ]
    for worker in workers:
        worker.set_knobs(join_seconds=0)
        url = add_node(cp)["urls"][0]
        joined = worker.run(["microk8s", "join", url, "--worker"])
        assert joined.returncode == 0, joined.stdout + joined.stderr
    return cp, workers


def test_cordon_uncordon_texts_and_status_column(cluster):
    cp, _ = cluster
    name = "node-127-0-1-222"
    first = kubectl(cp, "cordon", name)
    assert (first.returncode, first.stdout) == (0, f"node/{name} cordoned\n")
    again = kubectl(cp, "cordon", name)
    assert again.stdout == f"node/{name} already cordoned\n"
    table = kubectl(cp, "get", "nodes").stdout
    assert f"{name}   Ready,SchedulingDisabled" in table
    listing = json.loads(kubectl(cp, "get", "nodes", name, "-o", "json").stdout)
    assert listing["spec"]["unschedulable"] is True
    assert listing["spec"]["taints"][0]["key"] == "node.kubernetes.io/unschedulable"
    back = kubectl(cp, "uncordon", name)
    assert back.stdout == f"node/{name} uncordoned\n"
    assert kubectl(cp, "uncordon", name).stdout == f"node/{name} already uncordoned\n"
    missing = kubectl(cp, "cordon", "nope")
    assert (missing.returncode, missing.stderr) == (
        1,
        'Error from server (NotFound): nodes "nope" not found\n',
    )
    usage = kubectl(cp, "drain")
    assert usage.returncode == 1 and "USAGE: drain NODE [flags]" in usage.stderr


def test_drain_respects_the_disruption_budget(cluster):
    cp, _ = cluster
    a, b = "node-127-0-1-222", "node-127-0-1-223"
    for name, node in (("web-5d4f8c7b9-aaaaa", a), ("web-5d4f8c7b9-bbbbb", b)):
        assert (
            kubectl(cp, "apply", "-f", "-", stdin=POD.format(name=name, node=node)).returncode == 0
        )
    created = kubectl(cp, "apply", "-f", "-", stdin=PDB.format(min_available=2))
    assert created.stdout == "poddisruptionbudget.policy/web created\n"
    blocked = kubectl(cp, "drain", a, "--ignore-daemonsets", "--timeout=6s")
    # It retried until its --timeout (the simulator's own record of the command; a drain
    # that never gave up would hit SimNode.run's timeout instead).
    (drain,) = [c for c in cp.invocations() if c["argv"][2:4] == ["drain", a]]
    assert drain["duration"] > 5
    assert blocked.returncode == 1
    assert blocked.stdout.startswith(
        f"node/{a} cordoned\nevicting pod default/web-5d4f8c7b9-aaaaa\n"
    )
    assert (
        'error when evicting pods/"web-5d4f8c7b9-aaaaa" -n "default" (will retry after 5s): '
        "Cannot evict pod as it would violate the pod's disruption budget.\n"
    ) in blocked.stderr
    assert blocked.stderr.endswith(
        'error: error when evicting pods/"web-5d4f8c7b9-aaaaa" -n "default": '
        "global timeout reached: 6s\n"
    )
    assert "There are pending pods in node" in blocked.stderr
    # One disruption allowed: the pod goes, its ReplicaSet puts a new one on the other node.
    kubectl(cp, "apply", "-f", "-", stdin=PDB.format(min_available=1))
    drained = kubectl(cp, "drain", a, "--ignore-daemonsets", "--delete-emptydir-data")
    assert drained.returncode == 0, drained.stderr
    assert drained.stdout == (
        f"node/{a} already cordoned\nevicting pod default/web-5d4f8c7b9-aaaaa\n"
        f"pod/web-5d4f8c7b9-aaaaa evicted\nnode/{a} drained\n"
    )
    pods = json.loads(kubectl(cp, "get", "pods", "-A", "-o", "json").stdout)["items"]
    # MicroK8s control planes run pods too: the replacement goes to the least loaded node.
    assert len(pods) == 2 and a not in [p["spec"]["nodeName"] for p in pods]
    assert all(p["status"]["phase"] == "Running" for p in pods)
    assert kubectl(cp, "uncordon", a).returncode == 0


def test_drain_refuses_unmanaged_pods_without_force(cluster):
    cp, _ = cluster
    node = "node-127-0-1-223"
    bare = f"apiVersion: v1\nkind: Pod\nmetadata: {{name: bare}}\nspec: {{nodeName: {node}}}\n"
    kubectl(cp, "apply", "-f", "-", stdin=bare)
    refused = kubectl(cp, "drain", node, "--ignore-daemonsets")
    assert refused.returncode == 1
    assert refused.stderr.endswith(
        "error: cannot delete Pods declare no controller (use --force to override): default/bare\n"
    )
    forced = kubectl(cp, "drain", node, "--ignore-daemonsets", "--force", "--timeout=30s")
    assert forced.returncode == 0, forced.stderr
    assert "WARNING: deleting Pods that declare no controller: default/bare" in forced.stderr
    assert "pod/bare evicted" in forced.stdout
    assert kubectl(cp, "uncordon", node).returncode == 0


def test_refresh_moves_the_node_version_and_the_knobs(cluster):
    cp, workers = cluster
    worker = workers[0]
    name = "node-127-0-1-222"
    worker.set_knobs(fail_refreshes=1)
    failed = worker.run(["snap", "refresh", "microk8s", "--channel=1.33/stable"])
    assert failed.returncode == 1
    assert failed.stderr == (
        "error: cannot perform the following tasks:\n"
        '- Download snap "microk8s" (8205) from channel "1.33/stable" '
        "(simulated fault (knob fail_refreshes))\n"
    )
    assert worker.run(["microk8s", "version"]).stdout == "MicroK8s v1.32.3 revision 7964\n"
    worker.set_knobs(refresh_seconds=1)
    done = worker.run(["snap", "refresh", "microk8s", "--channel=1.33/stable"])
    assert done.returncode == 0
    refresh = [c for c in worker.invocations() if c["argv"][:2] == ["snap", "refresh"]][-1]
    assert refresh["duration"] >= 1  # the knob's refresh_seconds, by the simulator's record
    listing = json.loads(kubectl(cp, "get", "nodes", name, "-o", "json").stdout)
    assert listing["status"]["nodeInfo"]["kubeletVersion"] == "v1.33.4"
    assert f"{name}   Ready    <none>" in kubectl(cp, "get", "nodes").stdout
    # A node that never comes back: the refresh succeeds, the kubelet never posts again.
    other = workers[1]
    other.set_knobs(lost_after_refresh=True)
    assert other.run(["snap", "refresh", "microk8s", "--channel=1.33/stable"]).returncode == 0
    lost = json.loads(kubectl(cp, "get", "nodes", "node-127-0-1-223", "-o", "json").stdout)
    ready = next(c for c in lost["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "Unknown"
    assert lost["status"]["nodeInfo"]["kubeletVersion"] == "v1.32.3"
    other.set_knobs(lost_after_refresh=False)
    assert other.run(["snap", "start", "microk8s"]).returncode == 0
    back = json.loads(kubectl(cp, "get", "nodes", "node-127-0-1-223", "-o", "json").stdout)
    assert back["status"]["nodeInfo"]["kubeletVersion"] == "v1.33.4"


def test_dbctl_backup_and_restore(cluster, tmp_path):
    cp, workers = cluster
    refused = workers[0].run(["microk8s", "dbctl", "backup"])
    assert (refused.returncode, refused.stdout) == (
        1,
        "This MicroK8s deployment is acting as a node in a cluster.\nPlease use the master node.\n",
    )
    assert kubectl(cp, "create", "namespace", "keep-me").returncode == 0
    made = cp.run(["microk8s", "dbctl", "backup", "-o", str(tmp_path / "nightly")])
    assert made.returncode == 0, made.stderr
    archive = tmp_path / "nightly.tar.gz"
    assert made.stdout == f"Backing up the datastore\nThe backup is: {archive}\n"
    default = cp.run(["microk8s", "dbctl", "backup"], cwd=tmp_path)
    assert default.returncode == 0
    (name,) = [p.name for p in tmp_path.glob("backup-*.tar.gz")]
    assert len(name) == len("backup-2026-01-31-23-59-59.tar.gz")
    assert default.stdout.endswith(f"The backup is: {name}\n")
    assert kubectl(cp, "delete", "ns", "keep-me").returncode == 0
    restored = cp.run(["microk8s", "dbctl", "restore", str(archive)])
    assert (restored.returncode, restored.stdout) == (0, f"Restoring from {archive}\n")
    assert kubectl(cp, "get", "ns", "keep-me").returncode == 0
    missing = cp.run(["microk8s", "dbctl", "restore", str(tmp_path / "nope.tar.gz")])
    assert missing.returncode == 1
    assert "FileNotFoundError" in missing.stderr
    cp.set_knobs(stopped=True)
    try:
        down = cp.run(["microk8s", "dbctl", "backup"], cwd=tmp_path)
        assert (down.returncode, down.stdout) == (
            10,
            "Please ensure the kubernetes apiserver is running and HA is enabled.\n",
        )
    finally:
        cp.set_knobs(stopped=False)
