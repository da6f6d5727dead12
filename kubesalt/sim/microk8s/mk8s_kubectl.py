"""``microk8s kubectl``: the node objects of the cluster state, probed for readiness; namespaces
and secrets in :mod:`mk8s_kubectl_objects`."""

from __future__ import annotations

import json
import time

from kubesalt.sim.microk8s import agent
from kubesalt.sim.microk8s import catalog
from kubesalt.sim.microk8s import mk8s_kubectl_objects as k8s_objects
from kubesalt.sim.microk8s import mk8s_kubectl_workloads as workloads
from kubesalt.sim.microk8s import nodes
from kubesalt.sim.microk8s.host import Host
from kubesalt.sim.microk8s.mk8s_common import err
from kubesalt.sim.microk8s.mk8s_common import out
from kubesalt.sim.microk8s.mk8s_common import state_of
from kubesalt.sim.microk8s.mk8s_common import stopped_guard
from kubesalt.sim.microk8s.mk8s_common import worker_guard


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
    observed = nodes.observe(host, state, records)
    records = [record for record, _ in observed]
    conditions = {record["name"]: condition for record, condition in observed}
    objects = [nodes.node_object(record, condition) for record, condition in observed]
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
