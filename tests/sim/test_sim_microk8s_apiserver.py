"""The simulated kube-apiserver (ADDRESS:16443), spoken to by the Kubernetes Python client with
the kubeconfig ``microk8s config`` prints: the nodes it lists are the ones ``microk8s kubectl
get nodes`` prints, it needs the admin's client certificate, and it is up only while the
node's services run, on control planes only."""

import json
import socket
import ssl
import urllib.error
import urllib.request

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from tests.support.waiting import wait_until

PORT = 16443


@pytest.fixture(scope="module")
def cluster(microk8s_sim_module, tmp_path_factory):
    """Two control planes of one cluster; the operator's kubeconfig points at the first."""
    first = microk8s_sim_module(hostname="cp-a", install="1.32/stable")
    second = microk8s_sim_module(hostname="cp-b", install="1.32/stable")
    second.set_knobs(join_seconds=0)
    token = first.run(["microk8s", "add-node", "--format", "token"]).stdout.strip()
    joined = second.run(["microk8s", "join", f"{first.address}:25000/{token}"])
    assert joined.returncode == 0, joined.stdout + joined.stderr
    kubeconfig = tmp_path_factory.mktemp("operator") / "config"
    kubeconfig.write_text(first.run(["microk8s", "config"]).stdout)
    return {"first": first, "second": second, "kubeconfig": kubeconfig}


def _api(kubeconfig) -> k8s.ApiClient:
    return k8s_config.new_client_from_config(config_file=str(kubeconfig))


def _listening(address) -> bool:
    try:
        socket.create_connection((address, PORT), timeout=2).close()
    except OSError:
        return False
    return True


def _ready(node) -> str:
    return next(c.status for c in node.status.conditions if c.type == "Ready")


def test_the_client_lists_the_nodes_kubectl_prints(cluster):
    with _api(cluster["kubeconfig"]) as api:
        listed = k8s.CoreV1Api(api).list_node()
    printed = json.loads(
        cluster["first"].run(["microk8s", "kubectl", "get", "nodes", "-o", "json"]).stdout
    )["items"]
    assert listed.kind == "NodeList"
    seen = {
        n.metadata.name: (
            _ready(n),
            [(a.type, a.address) for a in n.status.addresses],
            n.status.node_info.kubelet_version,
        )
        for n in listed.items
    }
    want = {
        n["metadata"]["name"]: (
            next(c["status"] for c in n["status"]["conditions"] if c["type"] == "Ready"),
            [(a["type"], a["address"]) for a in n["status"]["addresses"]],
            n["status"]["nodeInfo"]["kubeletVersion"],
        )
        for n in printed
    }
    assert seen == want
    assert seen["cp-b"] == (
        "True",
        [("InternalIP", cluster["second"].address), ("Hostname", "cp-b")],
        "v1.32.3",
    )


def test_one_node_version_and_health(cluster):
    with _api(cluster["kubeconfig"]) as api:
        node = k8s.CoreV1Api(api).read_node("cp-a")
        assert node.metadata.labels["node.kubernetes.io/microk8s-controlplane"]
        with pytest.raises(k8s.ApiException) as missing:
            k8s.CoreV1Api(api).read_node("nope")
        assert missing.value.status == 404
        assert json.loads(missing.value.body)["reason"] == "NotFound"
        version = k8s.VersionApi(api).get_code()
        assert (version.major, version.minor, version.git_version) == ("1", "32", "v1.32.3")
        response = api.call_api(
            *api.param_serialize("GET", "/readyz", auth_settings=["BearerToken"])
        )
        response.read()
        assert (response.status, response.data) == (200, b"ok")


def test_without_the_admin_certificate_the_answer_is_401(cluster):
    address = cluster["first"].address
    ca = cluster["first"].root / "var/snap/microk8s/current/certs/ca.crt"
    # the server certificate verifies for the node's IP with the cluster CA; no credential
    context = ssl.create_default_context(cafile=str(ca))
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"https://{address}:{PORT}/healthz", context=context, timeout=10)
    assert refused.value.code == 401
    assert json.loads(refused.value.read())["reason"] == "Unauthorized"


def test_it_follows_the_node_services(cluster):
    second = cluster["second"]
    assert _listening(second.address)
    assert second.run(["microk8s", "stop"]).returncode == 0
    assert not _listening(second.address)  # connection refused, as the stopped snap
    with _api(cluster["kubeconfig"]) as api:
        nodes = {n.metadata.name: _ready(n) for n in k8s.CoreV1Api(api).list_node().items}
    assert nodes == {"cp-a": "True", "cp-b": "Unknown"}
    assert second.run(["microk8s", "start"]).returncode == 0
    assert _listening(second.address)


def test_a_worker_serves_no_api(microk8s_sim_module, cluster):
    worker = microk8s_sim_module(hostname="wk-a", install="1.32/stable")
    worker.set_knobs(join_seconds=0)
    assert _listening(worker.address)  # a fresh node is its own control plane
    token = cluster["first"].run(["microk8s", "add-node", "--format", "token"]).stdout.strip()
    joined = worker.run(
        ["microk8s", "join", f"{cluster['first'].address}:25000/{token}", "--worker"]
    )
    assert joined.returncode == 0, joined.stdout + joined.stderr
    wait_until(lambda: not _listening(worker.address), 30, "the worker's API server to stop")
