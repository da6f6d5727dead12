"""A cluster on loopback: joins over HTTPS to the cluster agents on port 25000."""

import json

import yaml

from tests.support.microk8s_sim import add_node

JOINED = "Successfully joined the cluster.\n"


def ha_nodes(node):
    status = yaml.safe_load(node.run(["microk8s", "status", "--format", "yaml"]).stdout)
    return [(n["address"], n["role"]) for n in status["high-availability"]["nodes"]]


def kube_nodes(node):
    result = node.run(["microk8s", "kubectl", "get", "nodes", "-o", "json"])
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    assert listing["kind"] == "List" and listing["apiVersion"] == "v1"
    nodes = {}
    for item in listing["items"]:
        ready = next(c for c in item["status"]["conditions"] if c["type"] == "Ready")
        address = next(a for a in item["status"]["addresses"] if a["type"] == "InternalIP")
        nodes[address["address"]] = (ready["status"], sorted(item["metadata"]["labels"]))
    return nodes


def test_control_plane_and_worker_join(microk8s_sim):
    cp1 = microk8s_sim(install="1.32/stable")
    cp2 = microk8s_sim(install="1.32/stable")
    worker = microk8s_sim(install="1.32/stable")
    for node in (cp1, cp2, worker):
        node.set_knobs(join_seconds=0.2)

    url = add_node(cp1)["urls"][0]
    assert url.startswith(f"{cp1.address}:25000/")
    joined = cp2.run(["microk8s", "join", url])
    assert joined.returncode == 0, joined.stdout + joined.stderr
    assert joined.stdout.startswith(
        f"Contacting cluster at {cp1.address}\nWaiting for this node to finish joining the cluster."
    )
    assert joined.stdout.endswith(JOINED)

    token = cp2.run(["microk8s", "add-node", "--format", "token"]).stdout.strip()
    as_worker = worker.run(["microk8s", "join", f"{cp2.address}:25000/{token}", "--worker"])
    assert as_worker.returncode == 0, as_worker.stdout + as_worker.stderr
    assert "The node has joined the cluster" in as_worker.stdout
    assert as_worker.stdout.endswith(JOINED)
    assert (worker.root / "var/snap/microk8s/current/var/lock/clustered.lock").exists()

    # The first node rebound dqlite from loopback; both control planes agree.
    expected = [(f"{cp1.address}:19001", "voter"), (f"{cp2.address}:19001", "spare")]
    assert ha_nodes(cp1) == expected
    assert ha_nodes(cp2) == expected
    nodes = kube_nodes(cp1)
    assert nodes == kube_nodes(cp2)
    assert {ip: ready for ip, (ready, _) in nodes.items()} == {
        cp1.address: "True",
        cp2.address: "True",
        worker.address: "True",
    }
    assert "node.kubernetes.io/microk8s-worker" in nodes[worker.address][1]
    assert "node.kubernetes.io/microk8s-controlplane" in nodes[cp2.address][1]

    status = worker.run(["microk8s", "status", "--format", "yaml"])
    assert (status.returncode, status.stdout) == (
        0,
        "This MicroK8s deployment is acting as a node in a cluster.\n"
        "Please use the control plane node.\n",
    )

    # A second join of a dqlite member: refused, and the token is burnt anyway.
    token = cp1.run(["microk8s", "add-node", "--format", "token"]).stdout.strip()
    again = cp2.run(["microk8s", "join", f"{cp1.address}:25000/{token}"])
    assert again.returncode == 6
    assert again.stdout.endswith(
        "Connection failed. Failed to retrieve dqlite cluster nodes: the joining node "
        f"({cp2.address}) is already known to dqlite (500).\n"
    )
    burnt = cp2.run(["microk8s", "join", f"{cp1.address}:25000/{token}"])
    assert burnt.stdout.endswith("Connection failed. Invalid token (500).\n")

    # A stopped worker goes NotReady on every control plane.
    worker.set_knobs(stopped=True)
    assert kube_nodes(cp2)[worker.address][0] == "Unknown"
    table = cp1.run(["microk8s", "kubectl", "get", "nodes"]).stdout
    assert "NotReady" in table

    # Datastore changes reach every control plane, also one that was down at the time.
    assert cp1.run(["microk8s", "enable", "rbac"]).returncode == 0
    assert cp2.run(["microk8s", "status", "-a", "rbac"]).stdout == "enabled\n"
    cp2.set_knobs(stopped=True)
    assert cp1.run(["microk8s", "enable", "metrics-server"]).returncode == 0
    cp2.set_knobs(stopped=False)
    assert cp2.run(["microk8s", "status", "-a", "metrics-server"]).stdout == "enabled\n"


def test_three_control_planes_form_ha(microk8s_sim):
    nodes = [microk8s_sim(install="1.32/stable") for _ in range(3)]
    first = nodes[0]
    for node in nodes[1:]:
        node.set_knobs(join_seconds=0)
        url = add_node(first)["urls"][0]
        assert node.run(["microk8s", "join", url]).returncode == 0
    voters = [(f"{node.address}:19001", "voter") for node in nodes]
    for node in nodes:
        assert ha_nodes(node) == voters
    pretty = nodes[2].run(["microk8s", "status"]).stdout.splitlines()
    assert pretty[1:4] == [
        "high-availability: yes",
        "  datastore master nodes: " + " ".join(f"{node.address}:19001" for node in nodes),
        "  datastore standby nodes: none",
    ]
    # A voter leaves: below three members one voter remains, the other member is a spare.
    assert nodes[1].run(["microk8s", "leave"]).returncode == 0
    spare = nodes[2]
    expected = [(f"{first.address}:19001", "voter"), (f"{spare.address}:19001", "spare")]
    assert ha_nodes(first) == expected
    assert ha_nodes(nodes[2]) == ha_nodes(first)
