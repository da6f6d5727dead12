"""``microk8s kubectl`` on pods, PodDisruptionBudgets and node maintenance: ``apply -f -`` of a
Pod or a PodDisruptionBudget, ``get pods|pdb``, ``cordon``, ``uncordon``, ``drain``.

Texts, streams and exit codes are kubectl's (``pkg/cmd/drain/drain.go``, ``pkg/drain/drain.go``
and ``filters.go`` of kubernetes/kubectl): ``node/NAME cordoned`` / ``already cordoned``,
``evicting pod NS/NAME``, ``pod/NAME evicted``, ``node/NAME drained``; a pod whose eviction a
PodDisruptionBudget forbids is retried every 5 s with ``error when evicting pods/"NAME" -n
"NS" (will retry after 5s): Cannot evict pod as it would violate the pod's disruption
budget.`` on stderr until ``--timeout`` (0 or absent: forever), then kubectl's
``global timeout reached`` error and exit 1. Pods are records in the cluster's shared state;
an evicted pod owned by a controller (ReplicaSet, StatefulSet, Job...) is replaced by its
controller on another schedulable Ready node (Pending when there is none), as the
controllers of a real cluster do. Nothing runs: a pod is healthy when its node is Ready.
"""

from __future__ import annotations

import json
import re
import secrets
import time
import uuid

from kubesalt.sim.microk8s import agent
from kubesalt.sim.microk8s.host import Host
from kubesalt.sim.microk8s.mk8s_common import err
from kubesalt.sim.microk8s.mk8s_common import out
from kubesalt.sim.microk8s.mk8s_common import state_of
from kubesalt.sim.microk8s.nodes import node_conditions

POD_WORDS = ("pod", "pods", "po")
PDB_WORDS = ("pdb", "pdbs", "poddisruptionbudget", "poddisruptionbudgets")
MAINTENANCE_VERBS = ("cordon", "uncordon", "drain")
EVICT_RETRY_SECONDS = 5  # kubectl's EvictErrorRetryDelay
PDB_VIOLATION = "Cannot evict pod as it would violate the pod's disruption budget."
DAEMONSET_FATAL = "DaemonSet-managed Pods (use --ignore-daemonsets to ignore)"
DAEMONSET_WARNING = "ignoring DaemonSet-managed Pods"
LOCAL_STORAGE_FATAL = "Pods with local storage (use --delete-emptydir-data to override)"
LOCAL_STORAGE_WARNING = "deleting Pods with local storage"
UNMANAGED_FATAL = "Pods declare no controller (use --force to override)"
UNMANAGED_WARNING = "deleting Pods that declare no controller"
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # apimachinery's rand.String alphabet
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")


def handles(resource: str) -> bool:
    return resource in POD_WORDS or resource in PDB_WORDS


# ----------------------------------------------------------------------------- helpers
def parse_duration(text: str) -> float:
    """Go's ``time.ParseDuration`` for what ``--timeout`` takes (``30s``, ``5m``, ``1m30s``)."""
    if text in ("0", ""):
        return 0.0
    parts = _DURATION_RE.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f'time: invalid duration "{text}"')
    scale = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    return sum(float(number) * scale[unit] for number, unit in parts)


def format_duration(seconds: float) -> str:
    """Go's ``Duration.String`` for whole seconds (``5s``, ``2m0s``, ``1h0m0s``)."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def _node_health(host: Host, state: dict) -> dict:
    """name -> True when the node is Ready (probed as ``kubectl get nodes`` does)."""
    return {name: verdict == "True" for name, verdict in node_conditions(host, state).items()}


def _controller(pod: dict) -> dict | None:
    for ref in pod.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref
    return None


def _matches(selector: dict, labels: dict) -> bool:
    wanted = (selector or {}).get("matchLabels") or {}
    return bool(wanted) and all(labels.get(k) == v for k, v in wanted.items())


def _count(value, total: int) -> int:
    if isinstance(value, str) and value.endswith("%"):
        return -(-int(value[:-1]) * total // 100)  # the disruption controller rounds up
    return int(value)


def disruptions_allowed(pdb: dict, pods: list, health: dict) -> int:
    """The disruption controller's ``status.disruptionsAllowed`` for PDB over PODS."""
    namespace = pdb["metadata"]["namespace"]
    selector = pdb.get("spec", {}).get("selector") or {}
    covered = [
        p
        for p in pods
        if p["metadata"]["namespace"] == namespace
        and _matches(selector, p["metadata"].get("labels") or {})
    ]
    healthy = sum(1 for p in covered if health.get(p["spec"].get("nodeName") or "", False))
    spec = pdb.get("spec", {})
    if "maxUnavailable" in spec:
        desired = len(covered) - _count(spec["maxUnavailable"], len(covered))
    else:
        desired = _count(spec.get("minAvailable", 1), len(covered))
    return max(0, healthy - max(0, desired))


def _blocking_pdbs(pod: dict, state: dict, health: dict) -> list:
    pods = list(state.get("pods", {}).values())
    labels = pod["metadata"].get("labels") or {}
    return [
        pdb
        for pdb in state.get("pdbs", {}).values()
        if pdb["metadata"]["namespace"] == pod["metadata"]["namespace"]
        and _matches(pdb.get("spec", {}).get("selector"), labels)
        and disruptions_allowed(pdb, pods, health) < 1
    ]


def _replacement_node(state: dict, health: dict, avoid: str) -> str:
    nodes = {n["name"]: n for n in state.get("nodes", [])}
    load = {name: 0 for name in nodes}
    for pod in state.get("pods", {}).values():
        if pod["spec"].get("nodeName") in load:
            load[pod["spec"]["nodeName"]] += 1
    candidates = [
        name
        for name, node in nodes.items()
        if name != avoid and health.get(name) and not node.get("unschedulable")
    ]
    return min(candidates, key=lambda name: (load[name], name)) if candidates else ""


def _pod_name_for(controller: dict) -> str:
    return f"{controller['name']}-" + "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(5))


# ----------------------------------------------------------------------------- apply / get
def apply(host: Host, document: dict, namespace: str | None) -> int:
    """``kubectl apply -f -`` of a Pod (v1) or a PodDisruptionBudget (policy/v1)."""
    kind = document["kind"]
    metadata = dict(document.get("metadata") or {})
    name = metadata.get("name")
    want = "v1" if kind == "Pod" else "policy/v1"
    if document.get("apiVersion") != want:
        err(
            f'error: resource mapping not found for name: "{name}" namespace: '
            f'"{metadata.get("namespace", "")}" from "STDIN": no matches for kind "{kind}" in '
            f'version "{document.get("apiVersion", "")}"',
            "ensure CRDs are installed first",
        )
        return 1
    target = metadata.get("namespace") or namespace or "default"
    metadata["namespace"] = target
    metadata.setdefault("uid", str(uuid.uuid4()))
    metadata.setdefault("creationTimestamp", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    obj = {**document, "metadata": metadata}
    obj.setdefault("spec", {})
    plural, word = ("pods", "pod") if kind == "Pod" else ("pdbs", "poddisruptionbudget.policy")
    key = f"{target}/{name}"
    existed = key in state_of(host).get(plural, {})

    def write(state: dict) -> None:
        state.setdefault(plural, {})[key] = obj

    agent.mutate(host, write)
    out(f"{word}/{name} {'configured' if existed else 'created'}")
    return 0


def _list(items: list) -> str:
    return json.dumps(
        {"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}},
        indent=4,
    )


def _table(rows: list) -> str:
    widths = [max(len(r[i]) for r in rows) + 3 for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + r[-1] for r in rows
    )


def get(host: Host, resource: str, names: list, namespace, all_namespaces: bool, output) -> int:  # noqa: PLR0917 (kubectl flags)
    state = state_of(host)
    plural = "pods" if resource in POD_WORDS else "pdbs"
    namespace = namespace or "default"
    objects = [
        obj
        for key, obj in sorted(state.get(plural, {}).items())
        if all_namespaces or obj["metadata"]["namespace"] == namespace
    ]
    if names:
        objects = [o for o in objects if o["metadata"]["name"] in names]
        if len(objects) < len(names):
            missing = sorted(set(names) - {o["metadata"]["name"] for o in objects})[0]
            kind = "pods" if plural == "pods" else "poddisruptionbudgets.policy"
            err(f'Error from server (NotFound): {kind} "{missing}" not found')
            return 1
    health = _node_health(host, state)
    pods = list(state.get("pods", {}).values())
    shown = []
    for stored in objects:
        obj = json.loads(json.dumps(stored))
        if plural == "pods":
            node = obj["spec"].get("nodeName") or ""
            obj["status"] = {"phase": "Running" if health.get(node) else "Pending"}
        else:
            obj["status"] = {"disruptionsAllowed": disruptions_allowed(obj, pods, health)}
        shown.append(obj)
    if output == "json":
        out(json.dumps(shown[0], indent=4) if len(names) == 1 else _list(shown))
        return 0
    if output == "name":
        word = "pod" if plural == "pods" else "poddisruptionbudget.policy"
        out(*[f"{word}/{o['metadata']['name']}" for o in shown])
        return 0
    if not shown:
        err("No resources found" + ("" if all_namespaces else f" in {namespace} namespace."))
        return 0
    if plural == "pods":
        header = ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
        if output == "wide":
            header += ["IP", "NODE", "NOMINATED NODE", "READINESS GATES"]
        rows = [(["NAMESPACE"] if all_namespaces else []) + header]
        for obj in shown:
            running = obj["status"]["phase"] == "Running"
            row = [obj["metadata"]["name"], "1/1" if running else "0/1", obj["status"]["phase"]]
            row += ["0", "1m"]
            if output == "wide":
                row += ["<none>", obj["spec"].get("nodeName") or "<none>", "<none>", "<none>"]
            rows.append(([obj["metadata"]["namespace"]] if all_namespaces else []) + row)
    else:
        rows = [
            (["NAMESPACE"] if all_namespaces else [])
            + ["NAME", "MIN AVAILABLE", "MAX UNAVAILABLE", "ALLOWED DISRUPTIONS", "AGE"]
        ]
        for obj in shown:
            spec = obj.get("spec", {})
            rows.append(
                ([obj["metadata"]["namespace"]] if all_namespaces else [])
                + [
                    obj["metadata"]["name"],
                    str(spec.get("minAvailable", "N/A")),
                    str(spec.get("maxUnavailable", "N/A")),
                    str(obj["status"]["disruptionsAllowed"]),
                    "1m",
                ]
            )
    out(_table(rows))
    return 0


# ----------------------------------------------------------------------------- maintenance
def _usage(verb: str) -> int:
    err(f"error: USAGE: {verb} NODE [flags]", f"See 'kubectl {verb} -h' for help and examples")
    return 1


def _set_unschedulable(host: Host, name: str, wanted: bool) -> bool:
    """Patch ``spec.unschedulable``; False when it already had that value."""
    changed = []

    def patch(state: dict) -> None:
        for node in state.get("nodes", []):
            if node["name"] == name and bool(node.get("unschedulable")) != wanted:
                node["unschedulable"] = wanted
                changed.append(name)

    if any(
        n["name"] == name and bool(n.get("unschedulable")) != wanted
        for n in state_of(host).get("nodes", [])
    ):
        agent.mutate(host, patch)
    return bool(changed)


def maintenance(host: Host, verb: str, args: list) -> int:
    """``kubectl cordon|uncordon|drain NODE [flags]``."""
    flags = {"force": False, "ignore-daemonsets": False, "delete-emptydir-data": False}
    timeout = 0.0
    names = []
    iterator = iter(args)
    for arg in iterator:
        if arg.startswith("--"):
            key, _, value = arg[2:].partition("=")
            if verb == "drain" and key in flags:
                flags[key] = value.lower() != "false"
            elif verb == "drain" and key == "delete-local-data":
                flags["delete-emptydir-data"] = True
                err(
                    "Flag --delete-local-data has been deprecated, This option is deprecated "
                    "and will be deleted. Use --delete-emptydir-data."
                )
            elif verb == "drain" and key in ("timeout", "grace-period"):
                value = value or next(iterator, "")
                if key == "timeout":
                    try:
                        timeout = parse_duration(value)
                    except ValueError as exc:
                        err(
                            f'error: invalid argument "{value}" for "--timeout" flag: {exc}',
                            f"See 'kubectl {verb} --help' for usage.",
                        )
                        return 1
            else:
                err(f"error: unknown flag: --{key}", f"See 'kubectl {verb} --help' for usage.")
                return 1
        else:
            names.append(arg)
    if not names:
        return _usage(verb)
    state = state_of(host)
    known = {n["name"] for n in state.get("nodes", [])}
    missing = [n for n in names if n not in known]
    if missing:
        err(f'Error from server (NotFound): nodes "{missing[0]}" not found')
        return 1
    for name in names:
        wanted = verb != "uncordon"
        word = "cordon" if wanted else "uncordon"
        changed = _set_unschedulable(host, name, wanted)
        out(f"node/{name} {word + 'ed' if changed else 'already ' + word + 'ed'}")
    if verb != "drain":
        return 0
    fatal = []
    for name in names:
        error = _drain_one(host, name, flags, timeout)
        if error is None:
            out(f"node/{name} drained")
        else:
            err(f'error: unable to drain node "{name}" due to error:{error}, continuing command...')
            fatal.append(error)
    if fatal:
        err("error: " + (fatal[0] if len(fatal) == 1 else "[" + ", ".join(fatal) + "]"))
        return 1
    return 0


def _classify(pod: dict, flags: dict) -> tuple[bool, str, str]:
    """kubectl's pod filters: (delete, "error"|"warning"|"", message)."""
    annotations = pod["metadata"].get("annotations") or {}
    controller = _controller(pod)
    if controller and controller.get("kind") == "DaemonSet":
        if not flags["ignore-daemonsets"]:
            return False, "error", DAEMONSET_FATAL
        return False, "warning", DAEMONSET_WARNING
    if MIRROR_ANNOTATION in annotations:
        return False, "", ""
    verdict = (True, "", "")
    if any("emptyDir" in volume for volume in pod["spec"].get("volumes") or []):
        if not flags["delete-emptydir-data"]:
            return False, "error", LOCAL_STORAGE_FATAL
        verdict = (True, "warning", LOCAL_STORAGE_WARNING)
    if controller is None:
        if not flags["force"]:
            return False, "error", UNMANAGED_FATAL
        verdict = (True, "warning", UNMANAGED_WARNING)
    return verdict


def _drain_one(host: Host, name: str, flags: dict, timeout: float) -> str | None:
    """Evict every pod of node NAME; None when drained, else kubectl's error text."""
    state = state_of(host)
    on_node = [p for p in state.get("pods", {}).values() if p["spec"].get("nodeName") == name]
    errors, warnings, evict = {}, {}, []
    for pod in sorted(on_node, key=lambda p: (p["metadata"]["namespace"], p["metadata"]["name"])):
        delete, kind, message = _classify(pod, flags)
        ref = f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"
        if kind == "error":
            errors.setdefault(message, []).append(ref)
        elif kind == "warning":
            warnings.setdefault(message, []).append(ref)
        if delete:
            evict.append(pod)
    if errors:
        return ", ".join(f"cannot delete {m}: {', '.join(p)}" for m, p in errors.items())
    if warnings:
        err("WARNING: " + "; ".join(f"{m}: {', '.join(p)}" for m, p in warnings.items()))
    deadline = time.monotonic() + timeout if timeout else None
    failures, evicted = [], []
    pending = list(evict)
    while pending:
        retry = []
        for pod in pending:
            meta = pod["metadata"]
            out(f"evicting pod {meta['namespace']}/{meta['name']}")
            if deadline is not None and time.monotonic() >= deadline:
                failures.append(
                    f'error when evicting pods/"{meta["name"]}" -n "{meta["namespace"]}": '
                    f"global timeout reached: {format_duration(timeout)}"
                )
                continue
            if _evict(host, pod):
                evicted.append(pod)
            else:
                err(
                    f'error when evicting pods/"{meta["name"]}" -n "{meta["namespace"]}" '
                    f"(will retry after {EVICT_RETRY_SECONDS}s): {PDB_VIOLATION}"
                )
                retry.append(pod)
        pending = retry
        if pending:
            pause = EVICT_RETRY_SECONDS
            if deadline is not None:
                pause = max(0.0, min(pause, deadline - time.monotonic()))
            time.sleep(pause)
    for pod in evicted:
        out(f"pod/{pod['metadata']['name']} evicted")
    if failures:
        left = [
            p["metadata"]["name"]
            for p in state_of(host).get("pods", {}).values()
            if p["spec"].get("nodeName") == name and _classify(p, flags)[0]
        ]
        error = failures[0] if len(failures) == 1 else "[" + ", ".join(failures) + "]"
        if left:
            err(f'There are pending pods in node "{name}" when an error occurred: {error}')
            err(*[f"pod/{pod}" for pod in left])
        return error
    return None


def _evict(host: Host, pod: dict) -> bool:
    """POST pods/eviction: refused (429) when a PodDisruptionBudget allows no disruption;
    else the pod goes and its controller replaces it elsewhere."""
    key = f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"
    state = state_of(host)
    health = _node_health(host, state)
    if key not in state.get("pods", {}):
        return True
    if _blocking_pdbs(state["pods"][key], state, health):
        return False
    controller = _controller(pod)
    node = pod["spec"].get("nodeName") or ""
    target = _replacement_node(state, health, node) if controller else ""

    def remove(current: dict) -> None:
        current.get("pods", {}).pop(key, None)
        if controller and controller.get("kind") != "DaemonSet":
            replacement = json.loads(json.dumps(pod))
            if controller.get("kind") != "StatefulSet":
                replacement["metadata"]["name"] = _pod_name_for(controller)
            replacement["metadata"]["uid"] = str(uuid.uuid4())
            replacement["spec"]["nodeName"] = target
            new_key = f"{pod['metadata']['namespace']}/{replacement['metadata']['name']}"
            current.setdefault("pods", {})[new_key] = replacement

    agent.mutate(host, remove)
    return True
