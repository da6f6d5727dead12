"""leave and remove-node on a two-control-plane cluster plus a worker."""

import json

import yaml


def ha_nodes(node):
    status = yaml.safe_load(node.run(["microk8s", "status", "--format", "yaml"]).stdout)
    return [(n["address"], n["role"]) for n in status["high-availability"]["nodes"]]


def ready_by_ip(node):
    listing = json.loads(node.run(["microk8s", "kubectl", "get", "nodes", "-o", "json"]).stdout)
    result = {}
    for item in listing["items"]:
        ip = next(a["address"] for a in item["status"]["addresses"] if a["type"] == "InternalIP")
        result[ip] = next(c["status"] for c in item["status"]["conditions"] if c["type"] == "Ready")
    return result


def join(node, cp, *extra):
    token = cp.run(["microk8s", "add-node", "--format", "token"]).stdout.strip()
    result = node.run(["microk8s", "join", f"{cp.address}:25000/{token}", *extra])
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_leave_and_remove_node(microk8s_sim):
    cp1 = microk8s_sim(install="1.32/stable")
    cp2 = microk8s_sim(install="1.32/stable")
    worker = microk8s_sim(install="1.32/stable")
    for node in (cp1, cp2, worker):
        node.set_knobs(join_seconds=0)

    alone = cp1.run(["microk8s", "leave"])
    assert (alone.returncode, alone.stdout) == (
        1,
        "This MicroK8s deployment is not acting as a node in a cluster.\n",
    )
    join(cp2, cp1)
    join(worker, cp1, "--worker")

    only_voter = cp1.run(["microk8s", "leave"])
    assert only_voter.returncode == 3
    assert only_voter.stdout.startswith(
        "This node currently holds the only copy of the Kubernetes database so it cannot "
        "leave the cluster.\n"
    )

    refused = cp1.run(["microk8s", "remove-node", cp2.hostname])
    assert refused.returncode == 1
    assert refused.stdout == (
        f"Removal failed. Node {cp2.hostname} is registered with dqlite. Please, run first "
        "'microk8s leave' on the departing node. \n"
        "If the node is not available anymore and will never attempt to join the cluster in "
        "the future use the '--force' flag \n"
        "to unregister the node while removing it.\n"
    )
    flag_first = cp1.run(["microk8s", "remove-node", "--force", cp2.hostname])
    assert (flag_first.returncode, flag_first.stdout) == (
        1,
        "Please provide the node and the optional --force flag.\n",
    )

    left = cp2.run(["microk8s", "leave"])
    assert left.returncode == 0, left.stdout + left.stderr
    assert left.stdout == "Generating new cluster certificates.\nWaiting for node to start.  \n"
    assert ha_nodes(cp1) == [(f"{cp1.address}:19001", "voter")]
    assert ha_nodes(cp2) == [("127.0.0.1:19001", "voter")]
    assert ready_by_ip(cp1) == {
        cp1.address: "True",
        cp2.address: "Unknown",  # left: stays NotReady until remove-node
        worker.address: "True",
    }
    assert cp1.run(["microk8s", "remove-node", cp2.address]).returncode == 0
    assert set(ready_by_ip(cp1)) == {cp1.address, worker.address}

    worker_left = worker.run(["microk8s", "leave"])
    assert worker_left.returncode == 0
    assert worker_left.stdout.startswith("Configuring services.\n")
    assert not (worker.root / "var/snap/microk8s/current/var/lock/clustered.lock").exists()
    assert cp1.run(["microk8s", "remove-node", worker.hostname]).returncode == 0  # no --force

    missing = cp1.run(["microk8s", "remove-node", "ghost", "--force"])
    assert missing.returncode == 1
    assert missing.stderr == 'Error from server (NotFound): nodes "ghost" not found\n'
    assert missing.stdout == (
        "Node ghost does not exist in Kubernetes.\nAttempting to remove ghost from dqlite.\n"
    )

    # A member that will never come back: --force unregisters it from dqlite.
    join(cp2, cp1)
    assert ha_nodes(cp1) == [(f"{cp1.address}:19001", "voter"), (f"{cp2.address}:19001", "spare")]
    cp2.set_knobs(stopped=True)
    assert cp1.run(["microk8s", "remove-node", cp2.address, "--force"]).returncode == 0
    assert ha_nodes(cp1) == [(f"{cp1.address}:19001", "voter")]


def test_worker_guards(microk8s_sim):
    cp = microk8s_sim(install="1.32/stable")
    worker = microk8s_sim(install="1.32/stable")
    worker.set_knobs(join_seconds=0)
    # Upstream bug kept: --controlplane makes the client take the worker path, the server
    # answers as for a control plane, the client gives up after the token was consumed.
    token = cp.run(["microk8s", "add-node", "--format", "token"]).stdout.strip()
    bugged = worker.run(["microk8s", "join", f"{cp.address}:25000/{token}", "--controlplane"])
    assert bugged.returncode == 1
    assert bugged.stdout.endswith(
        "Joining process failed. Make sure the cluster you connect to supports joining "
        "worker nodes.\n"
    )
    retry = worker.run(["microk8s", "join", f"{cp.address}:25000/{token}", "--worker"])
    assert retry.stdout.endswith("Connection failed. Invalid token (500).\n")
    join(worker, cp, "--worker")
    prefix = "This MicroK8s deployment is acting as a node in a cluster."
    expectations = {
        ("add-node",): (1, f"{prefix} Please use the microk8s add-node on the master.\n"),
        ("remove-node", "x"): (1, f"{prefix} Please use microk8s leave.\n"),
        ("enable", "dns"): (1, f"{prefix}\nPlease use the master node.\n"),
        ("kubectl", "get", "no"): (
            0,
            f"{prefix} Please use the microk8s kubectl on the master.\n",
        ),
        ("config",): (0, f"{prefix} Please use the microk8s config on the master.\n"),
        ("stop",): (0, f"{prefix}\nUse 'snap stop microk8s' to stop services on this node.\n"),
        ("start",): (0, f"{prefix}\nUse 'snap start microk8s' to start services on this node.\n"),
    }
    for args, (code, stdout) in expectations.items():
        result = worker.run(["microk8s", *args])
        assert (result.returncode, result.stdout) == (code, stdout), args
    assert worker.run(["microk8s", "version"]).stdout.startswith("MicroK8s v1.32.3")
