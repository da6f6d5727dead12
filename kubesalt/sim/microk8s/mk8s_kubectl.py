"""``microk8s kubectl``: the node objects of the cluster state, probed for readiness; namespaces
and secrets in :mod:`mk8s_kubectl_objects`."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

from kubesalt.sim.microk8s import agent
from kubesalt.sim.microk8s import catalog
from kubesalt.sim.microk8s import mk8s_kubectl_objects as k8s_objects
from kubesalt.sim.microk8s import mk8s_kubectl_workloads as workloads
from kubesalt.sim.microk8s.host import Host
from kubesalt.sim.microk8s.mk8s_common import cluster_ready
from kubesalt.sim.microk8s.mk8s_common import err
from kubesalt.sim.microk8s.mk8s_common import out
from kubesalt.sim.microk8s.mk8s_common import state_of
from kubesalt.sim.microk8s.mk8s_common import stopped_guard
from kubesalt.sim.microk8s.mk8s_common import worker_guard


def _timestamp(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def _age(epoch: float) -> str:
    seconds = max(0, int(time.time() - epoch))
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    return f"{hours // 24}d"


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


def node_object(record: dict, condition: str) -> dict:
    role_label = (
        {"node.kubernetes.io/microk8s-worker": "microk8s-worker"}
        if record["role"] == "worker"
        else {"node.kubernetes.io/microk8s-controlplane": "microk8s-controlplane"}
    )
    created = _timestamp(record.get("created", time.time()))
    reason, message = {
        "True": ("KubeletReady", "kubelet is posting ready status"),
        "False": ("KubeletNotReady", "container runtime status check may not have completed yet"),
        "Unknown": ("NodeStatusUnknown", "Kubelet stopped posting node status."),
    }[condition]
    now = _timestamp(time.time())
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
            "uid": hashlib.md5(record["name"].encode()).hexdigest(),  # noqa: S324 - an id
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
            "nodeInfo": {
                "architecture": "amd64",
                "containerRuntimeVersion": "containerd://1.6.28",
                "kernelVersion": os.uname().release,
                "kubeProxyVersion": record.get("version", ""),
                "kubeletVersion": record.get("version", ""),
                "operatingSystem": "linux",
                "osImage": "Ubuntu 24.04 LTS",
            },
        },
    }


def _table(rows: list) -> str:
    widths = [max(len(r[i]) for r in rows) + 3 for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + r[-1] for r in rows
    )


def cmd_kubectl(host: Host, args: list) -> int:
    worker_guard(
        host, f"{catalog.WORKER_PREFIX} Please use the microk8s kubectl on the master.", code=0
    )
    stopped_guard(host)
    if args and args[0] in workloads.MAINTENANCE_VERBS:
        return workloads.maintenance(host, args[0], args[1:])
    output = None
    namespace = None
    all_namespaces = False
    files = []
    words = []
    iterator = iter(args)
    for arg in iterator:
        if arg in ("-o", "--output"):
            output = next(iterator, "")
        elif arg.startswith("-o") and len(arg) > 2:
            output = arg[2:].lstrip("=")
        elif arg.startswith("--output="):
            output = arg.split("=", 1)[1]
        elif arg in ("-n", "--namespace"):
            namespace = next(iterator, "")
        elif arg.startswith("--namespace="):
            namespace = arg.split("=", 1)[1]
        elif arg in ("-f", "--filename"):
            files.append(next(iterator, ""))
        elif arg.startswith("--filename="):
            files.append(arg.split("=", 1)[1])
        elif arg in ("-A", "--all-namespaces"):
            all_namespaces = True
        else:
            words.append(arg)
    if words[:2] == ["get", "--raw"]:
        out("ok")
        return 0
    if not words or words[0] not in ("get", "delete", "version", "apply", "create"):
        err(f'error: unknown command "{words[0] if words else ""}" for "kubectl"')
        return 1
    if words[0] == "apply":
        return k8s_objects.cmd_apply(host, files, namespace)
    if words[0] == "create":
        if len(words) > 1 and words[1] in k8s_objects.NAMESPACE_WORDS:
            return k8s_objects.cmd_create_namespace(host, words[2:])
        # kubectl creates many more kinds; the simulator keeps namespaces and secrets
        # (apply) only, and says so rather than pretend.
        err(f"kubectl create {words[1] if len(words) > 1 else ''} is not simulated by kubesalt.")
        return 1
    if words[0] == "version":
        version = (host.snap_meta() or {}).get("version", "")
        out(f"Client Version: {version}", "Kustomize Version: v5.5.0", f"Server Version: {version}")
        return 0
    resource = words[1] if len(words) > 1 else ""
    if words[0] == "get" and resource in ("all", "all,ingress,ingressclass"):
        out(
            _table(
                [
                    ["NAMESPACE", "NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"],
                    [
                        "default",
                        "service/kubernetes",
                        "ClusterIP",
                        "10.152.183.1",
                        "<none>",
                        "443/TCP",
                        "1d",
                    ],
                ]
            ),
        )
        return 0
    if words[0] == "get" and workloads.handles(resource):
        return workloads.get(host, resource, words[2:], namespace, all_namespaces, output)
    if k8s_objects.handles(resource):
        if words[0] == "delete":
            return k8s_objects.cmd_delete(host, resource, words[2:], namespace)
        return k8s_objects.cmd_get(host, resource, words[2:], namespace, output)
    if resource not in ("nodes", "node", "no"):
        err(f'error: the server doesn\'t have a resource type "{resource}"')
        return 1
    state = state_of(host)
    names = words[2:]
    if words[0] == "delete":
        missing = [n for n in names if not any(r["name"] == n for r in state["nodes"])]
        for name in missing:
            err(f'Error from server (NotFound): nodes "{name}" not found')
        found = [n for n in names if n not in missing]
        if found:
            agent.mutate(
                host, lambda s: s.update(nodes=[r for r in s["nodes"] if r["name"] not in found])
            )
            for name in found:
                out(f'node "{name}" deleted')
        return 1 if missing else 0
    records = state["nodes"]
    if names:
        selected = []
        for name in names:
            record = next((r for r in records if r["name"] == name), None)
            if record is None:
                err(f'Error from server (NotFound): nodes "{name}" not found')
                return 1
            selected.append(record)
        records = selected
    versions = {}
    conditions = node_conditions(host, {**state, "nodes": records}, versions)
    records = [{**r, "version": versions.get(r["name"], r.get("version", ""))} for r in records]
    objects = [node_object(r, conditions[r["name"]]) for r in records]
    if output == "json":
        if names and len(names) == 1:
            out(json.dumps(objects[0], indent=4))
        else:
            out(
                json.dumps(
                    {
                        "apiVersion": "v1",
                        "items": objects,
                        "kind": "List",
                        "metadata": {"resourceVersion": ""},
                    },
                    indent=4,
                )
            )
        return 0
    if output == "name":
        for obj in objects:
            out(f"node/{obj['metadata']['name']}")
        return 0
    if not objects:
        err("No resources found")
        return 0
    header = ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    if output == "wide":
        header += ["INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"]
    rows = [header]
    for record, obj in zip(records, objects, strict=False):
        row = [
            record["name"],
            ("Ready" if conditions[record["name"]] == "True" else "NotReady")
            + (",SchedulingDisabled" if record.get("unschedulable") else ""),
            "<none>",
            _age(record.get("created", time.time())),
            record.get("version", ""),
        ]
        if output == "wide":
            info = obj["status"]["nodeInfo"]
            row += [
                record["address"],
                "<none>",
                info["osImage"],
                info["kernelVersion"],
                info["containerRuntimeVersion"],
            ]
        rows.append(row)
    out(_table(rows))
    return 0
