"""Pod and service networks, node IP and Calico's interface (issue 11 defects 7 and 9): the
simulator takes them from the launch configuration at install as MicroK8s does, reports the
pool it was given, and hands the cluster's CIDR and the node IP rules to joining nodes."""

import json

import pytest
import yaml

from cluster_lib.cluster import launch_config
from kubesalt.sim.microk8s import cni
from kubesalt.sim.microk8s.host import Host
from tests.support.cases import load_cases
from tests.support.microk8s_sim import free_sim_address

DATA = "var/snap/microk8s/current"


def args(node, name):
    text = (node.root / DATA / "args" / name).read_text()
    return dict(line.split("=", 1) for line in text.splitlines() if line.startswith("--"))


def internal_ips(node):
    result = node.run(["microk8s", "kubectl", "get", "nodes", "-o", "json"])
    assert result.returncode == 0, result.stderr
    return {
        item["metadata"]["name"]: next(
            a["address"] for a in item["status"]["addresses"] if a["type"] == "InternalIP"
        )
        for item in json.loads(result.stdout)["items"]
    }


def write_launch(node, config):
    (node.root / "etc").mkdir(parents=True, exist_ok=True)
    (node.root / "etc/microk8s.yaml").write_text(yaml.safe_dump(config))


@pytest.mark.parametrize("case", load_cases(__file__, "cni_networks"))
def test_networks_at_install(microk8s_sim, case):
    node = microk8s_sim()
    if case["launch"]:
        write_launch(node, case["launch"])
    result = node.run(["snap", "install", "microk8s", "--classic", "--channel=1.32/stable"])
    if "error" in case:
        assert result.returncode == 1
        assert case["error"] in result.stderr
        assert node.run(["snap", "list", "microk8s"]).returncode == 1
        return
    assert result.returncode == 0, result.stderr
    host = Host(node.root, node.address)
    assert cni.pool(host) == case["pool"]
    assert cni.cluster_cidr(host) == case["pool"]
    assert args(node, "kube-controller-manager") == {
        "--service-cluster-ip-range": case["service"],
        "--cluster-cidr": case["pool"],
    }
    assert args(node, "kube-apiserver")["--service-cluster-ip-range"] == case["service"]
    assert cni.calico_env(host)["IP_AUTODETECTION_METHOD"] == "first-found"


def test_salt_launch_config_pins_networks_and_node_ip(microk8s_sim):
    # The first control plane's address is cp1.address (the simulator's one address, where
    # its agent listens); Salt pins the kubelet to another one (its private address). A
    # second control plane, installed with MicroK8s' defaults, joins.
    networks = {"pod_cidr": "10.244.0.0/16", "service_cidr": "10.152.183.0/24"}
    cp1 = microk8s_sim()
    private = free_sim_address()
    write_launch(cp1, launch_config(networks, private))
    cp1.install("1.32/stable")
    cp2 = microk8s_sim(install="1.32/stable")
    cp2.set_knobs(join_seconds=0)
    host1, host2 = Host(cp1.root, cp1.address), Host(cp2.root, cp2.address)
    assert args(cp1, "kubelet")["--node-ip"] == private
    assert args(cp1, "kubelet")["--cluster-dns"] == "10.152.183.10"
    assert internal_ips(cp1) == {cp1.hostname: private}
    assert cni.pool(host1) == "10.244.0.0/16"
    assert cni.cluster_cidr(host2) == "10.1.0.0/16"

    token = cp1.run(["microk8s", "add-node", "--format", "token"]).stdout.strip()
    joined = cp2.run(["microk8s", "join", f"{cp1.address}:25000/{token}"])
    assert joined.returncode == 0, joined.stdout + joined.stderr
    assert (
        "WARNING: Joining a cluster that has a different CIDR. The kube-proxy CIDR "
        "configuration will be overwritten.\n"
        "Cluster CIDR: 10.244.0.0/16 -- Node CIDR: 10.1.0.0/16(will be overwritten)\n"
    ) in joined.stdout
    assert cni.cluster_cidr(host2) == "10.244.0.0/16"
    # The joining node takes the control plane's kubelet arguments, --node-ip being the
    # address it joined from; dqlite rebinds to the address contacted.
    assert args(cp2, "kubelet")["--node-ip"] == cp2.address
    status = yaml.safe_load(cp1.run(["microk8s", "status", "--format", "yaml"]).stdout)
    addresses = [n["address"] for n in status["high-availability"]["nodes"]]
    assert addresses[0] == f"{cp1.address}:19001"
    # Calico: can-reach the peer on both sides (upstream patch_cni / cluster agent).
    assert cni.calico_env(host1)["IP_AUTODETECTION_METHOD"] == f"can-reach={cp2.address}"
    assert cni.calico_env(host2)["IP_AUTODETECTION_METHOD"] == f"can-reach={cp1.address}"
    assert internal_ips(cp1) == {cp1.hostname: private, cp2.hostname: cp2.address}
