"""The cluster's Node objects as the API server serves them (``kubectl get nodes`` and the
simulated kube-apiserver read them here, so both agree): the records of the replicated cluster
state, each node's Ready condition probed through its agent, the kubelet version it posts."""

from __future__ import annotations

import datetime
import hashlib
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from kubesalt.sim.microk8s import agent
from kubesalt.sim.microk8s.host import Host
from kubesalt.sim.microk8s.mk8s_common import cluster_ready


def timestamp(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def node_conditions(host: Host, state: dict, versions: dict | None = None) -> dict:
    """name -> "True" | "False" | "Unknown": each node's agent probed with a short timeout.

    VERSIONS, when given, receives name -> the version each answering node's kubelet runs
    (a kubelet posts its own version with its status; an unreachable node keeps the last).
    """
    results = {}
    versions = {} if versions is None else versions

    def judge(record):
        if record["name"] == host.hostname:
            versions[record["name"]] = (host.snap_meta() or {}).get("version", "")
            return "True" if cluster_ready(host) else "False"
        answer = agent.probe(host, record["address"])
        if (
            answer is None
            or answer.get("stopped")
            or answer.get("cluster_id") != state.get("cluster_id")
        ):
            return "Unknown"
        if answer.get("version"):
            versions[record["name"]] = answer["version"]
        return "True" if answer.get("ready") else "False"

    nodes = state.get("nodes", [])
    if nodes:
        with ThreadPoolExecutor(max_workers=min(16, len(nodes))) as pool:
            for record, verdict in zip(nodes, pool.map(judge, nodes), strict=False):
                results[record["name"]] = verdict
    return results


def observe(host: Host, state: dict, records: list) -> list[tuple[dict, str]]:
    """(record with the kubelet version its node posts, Ready condition) for each of RECORDS
    (nodes of STATE), in order."""
    versions = {}
    conditions = node_conditions(host, {**state, "nodes": records}, versions)
    return [
        ({**r, "version": versions.get(r["name"], r.get("version", ""))}, conditions[r["name"]])
        for r in records
    ]


def _digest(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - an identifier, not a secret


def node_object(record: dict, condition: str) -> dict:
    role_label = (
        {"node.kubernetes.io/microk8s-worker": "microk8s-worker"}
        if record["role"] == "worker"
        else {"node.kubernetes.io/microk8s-controlplane": "microk8s-controlplane"}
    )
    created = timestamp(record.get("created", time.time()))
    reason, message = {
        "True": ("KubeletReady", "kubelet is posting ready status"),
        "False": ("KubeletNotReady", "container runtime status check may not have completed yet"),
        "Unknown": ("NodeStatusUnknown", "Kubelet stopped posting node status."),
    }[condition]
    now = timestamp(time.time())
    spec = {}
    if record.get("unschedulable"):
        spec = {
            "taints": [
                {
                    "effect": "NoSchedule",
                    "key": "node.kubernetes.io/unschedulable",
                    "timeAdded": now,
                }
            ],
            "unschedulable": True,
        }
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
            "creationTimestamp": created,
            "labels": {
                "beta.kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/hostname": record["name"],
                "kubernetes.io/os": "linux",
                "microk8s.io/cluster": "true",
                **role_label,
            },
            "name": record["name"],
            "resourceVersion": str(int(record.get("created", 0)) % 100000),
            "uid": _digest(record["name"]),
        },
        "spec": spec,
        "status": {
            "addresses": [
                {"address": record["address"], "type": "InternalIP"},
                {"address": record["name"], "type": "Hostname"},
            ],
            "conditions": [
                {
                    "lastHeartbeatTime": now,
                    "lastTransitionTime": created,
                    "message": message,
                    "reason": reason,
                    "status": condition,
                    "type": "Ready",
                }
            ],
            "nodeInfo": {  # the machine's identifiers are derived from its name
                "architecture": "amd64",
                "bootID": str(uuid.UUID(_digest(f"{record['name']}/boot"))),
                "containerRuntimeVersion": "containerd://1.6.28",
                "kernelVersion": os.uname().release,
                "kubeProxyVersion": record.get("version", ""),
                "kubeletVersion": record.get("version", ""),
                "machineID": _digest(f"{record['name']}/machine"),
                "operatingSystem": "linux",
                "osImage": "Ubuntu 24.04 LTS",
                "systemUUID": str(uuid.UUID(_digest(f"{record['name']}/system"))),
            },
        },
    }
