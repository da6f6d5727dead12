"""``microk8s kubectl`` on namespaces and secrets: get, create namespace, apply -f -, delete.

The objects live in the cluster's shared state (``namespaces`` and ``secrets``), written with
:func:`agent.mutate`, so every control plane of the cluster answers the same. Texts and exit
codes are kubectl's (v1.32). A manifest is read from stdin only (``-f -``): the simulator logs
argv, never stdin, so a secret given this way stays out of its invocation log.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime
import json
import re
import sys
import time
import uuid

import yaml

from kubesalt.sim.microk8s import agent
from kubesalt.sim.microk8s import mk8s_kubectl_workloads
from kubesalt.sim.microk8s.host import Host
from kubesalt.sim.microk8s.mk8s_common import err
from kubesalt.sim.microk8s.mk8s_common import out
from kubesalt.sim.microk8s.mk8s_common import state_of
from kubesalt.sim.microk8s.nodes import timestamp

# Every cluster has these from the start (kube-apiserver creates them).
BUILTIN_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")
NAMESPACE_WORDS = ("namespace", "namespaces", "ns")
SECRET_WORDS = ("secret", "secrets")
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def handles(resource: str) -> bool:
    """Whether ``get``/``delete`` of RESOURCE is served here."""
    return resource in NAMESPACE_WORDS or resource in SECRET_WORDS


def _epoch(text: str) -> float:
    parsed = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
    return parsed.replace(tzinfo=datetime.timezone.utc).timestamp()


def _age(epoch: float) -> str:
    seconds = max(0, int(time.time() - epoch))
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    return f"{minutes}m" if minutes < 180 else f"{minutes // 60}h"


def _table(rows: list) -> str:
    widths = [max(len(r[i]) for r in rows) + 3 for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + r[-1] for r in rows
    )


def _namespaces(state: dict) -> dict:
    """name -> namespace record (the built-in ones dated from the cluster's first node)."""
    born = min((n.get("created", time.time()) for n in state.get("nodes", [])), default=0.0)
    found = {
        name: {"created": born, "uid": str(uuid.uuid5(uuid.NAMESPACE_DNS, name))}
        for name in BUILTIN_NAMESPACES
    }
    found.update(state.get("namespaces", {}))
    return found


def _namespace_object(name: str, record: dict) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "creationTimestamp": timestamp(record["created"]),
            "labels": {"kubernetes.io/metadata.name": name},
            "name": name,
            "resourceVersion": str(record.get("resource_version", 1)),
            "uid": record["uid"],
        },
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def _list(items: list) -> str:
    return json.dumps(
        {"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}},
        indent=4,
    )


# ----------------------------------------------------------------------------- get / delete
def cmd_get(host: Host, resource: str, names: list, namespace: str | None, output) -> int:
    state = state_of(host)
    if resource in NAMESPACE_WORDS:
        return _get_namespaces(state, names, output)
    return _get_secrets(state, names, namespace or "default", output)


def _get_namespaces(state: dict, names: list, output) -> int:
    known = _namespaces(state)
    selected = sorted(known) if not names else names
    for name in selected:
        if name not in known:
            err(f'Error from server (NotFound): namespaces "{name}" not found')
            return 1
    objects = [_namespace_object(name, known[name]) for name in selected]
    if output == "json":
        out(json.dumps(objects[0], indent=4) if len(names) == 1 else _list(objects))
    elif output == "name":
        out(*[f"namespace/{name}" for name in selected])
    else:
        rows = [["NAME", "STATUS", "AGE"]]
        rows += [[name, "Active", _age(known[name]["created"])] for name in selected]
        out(_table(rows))
    return 0


def _get_secrets(state: dict, names: list, namespace: str, output) -> int:
    stored = state.get("secrets", {})
    if names:
        objects = []
        for name in names:
            obj = stored.get(f"{namespace}/{name}")
            if obj is None:
                err(f'Error from server (NotFound): secrets "{name}" not found')
                return 1
            objects.append(obj)
    else:
        objects = [obj for key, obj in sorted(stored.items()) if key.startswith(f"{namespace}/")]
    if output == "json":
        out(json.dumps(objects[0], indent=4) if len(names) == 1 else _list(objects))
        return 0
    if output == "name":
        out(*[f"secret/{obj['metadata']['name']}" for obj in objects])
        return 0
    if not objects:
        err(f"No resources found in {namespace} namespace.")
        return 0
    rows = [["NAME", "TYPE", "DATA", "AGE"]]
    for obj in objects:
        rows.append(
            [
                obj["metadata"]["name"],
                obj.get("type", "Opaque"),
                str(len(obj.get("data") or {})),
                _age(_epoch(obj["metadata"]["creationTimestamp"])),
            ]
        )
    out(_table(rows))
    return 0


def cmd_delete(host: Host, resource: str, names: list, namespace: str | None) -> int:
    state = state_of(host)
    if resource in NAMESPACE_WORDS:
        plural, keys = "namespaces", {name: name for name in names}
        present = set(state.get("namespaces", {}))
        builtin = [name for name in names if name in BUILTIN_NAMESPACES]
        if builtin:
            err(
                f'Error from server (Forbidden): namespaces "{builtin[0]}" is forbidden: this '
                "namespace may not be deleted"
            )
            return 1
    else:
        namespace = namespace or "default"
        plural, keys = "secrets", {name: f"{namespace}/{name}" for name in names}
        present = set(state.get("secrets", {}))
    missing = [name for name in names if keys[name] not in present]
    found = [name for name in names if keys[name] in present]

    def drop(current: dict) -> None:
        for name in found:
            current.get(plural, {}).pop(keys[name], None)
            if plural == "namespaces":  # a namespace takes its objects with it
                current["secrets"] = {
                    key: obj
                    for key, obj in current.get("secrets", {}).items()
                    if not key.startswith(f"{name}/")
                }

    if found:
        agent.mutate(host, drop)
        kind = "namespace" if plural == "namespaces" else "secret"
        out(*[f'{kind} "{name}" deleted' for name in found])
    for name in missing:
        err(f'Error from server (NotFound): {plural} "{name}" not found')
    return 1 if missing else 0


# ----------------------------------------------------------------------------- create
def cmd_create_namespace(host: Host, names: list) -> int:
    if len(names) != 1:
        err("error: exactly one NAME is required, got " + str(len(names)))
        return 1
    name = names[0]
    if name in _namespaces(state_of(host)):
        err(f'Error from server (AlreadyExists): namespaces "{name}" already exists')
        return 1
    problem = _dns_label_problem(name)
    if problem:
        err(f'The Namespace "{name}" is invalid: metadata.name: Invalid value: "{name}": {problem}')
        return 1
    agent.mutate(host, lambda s: s.setdefault("namespaces", {}).update({name: _new_namespace()}))
    out(f"namespace/{name} created")
    return 0


def _new_namespace() -> dict:
    return {"created": time.time(), "uid": str(uuid.uuid4()), "resource_version": 1}


def _dns_label_problem(name: str) -> str | None:
    if len(name) <= 63 and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name):
        return None
    return (
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
        "'-', and must start and end with an alphanumeric character (e.g. 'my-name',  or "
        "'123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
    )


# ----------------------------------------------------------------------------- apply
def cmd_apply(host: Host, files: list, namespace: str | None) -> int:
    if files != ["-"]:
        if not files:
            err("error: must specify one of -f and -k")
        else:
            err(f'error: the path "{files[0]}" does not exist')
        return 1
    text = sys.stdin.read()
    try:
        documents = [doc for doc in yaml.safe_load_all(text) if doc]
    except yaml.YAMLError as exc:
        err(f"error: error parsing STDIN: error converting YAML to JSON: {exc}".splitlines()[0])
        return 1
    if not documents:
        err("error: no objects passed to apply")
        return 1
    code = 0
    for document in documents:
        code = max(code, _apply_one(host, document, namespace))
    return code


def _apply_one(host: Host, document, namespace: str | None) -> int:
    if not isinstance(document, dict) or not document.get("kind"):
        err('error: error validating "STDIN": error validating data: kind not set')
        return 1
    kind, version = document.get("kind"), document.get("apiVersion", "")
    metadata = document.get("metadata") or {}
    name = metadata.get("name")
    if kind in ("Pod", "PodDisruptionBudget") and name:
        return mk8s_kubectl_workloads.apply(host, document, namespace)
    if kind not in ("Secret", "Namespace"):
        # A real cluster knows many more kinds: say so rather than pretend it does not.
        err(f'kubectl apply of kind "{kind}" is not simulated by kubesalt.')
        return 1
    if version != "v1":
        err(
            f'error: resource mapping not found for name: "{name}" namespace: '
            f'"{metadata.get("namespace", "")}" from "STDIN": no matches for kind "{kind}" in '
            f'version "{version}"',
            "ensure CRDs are installed first",
        )
        return 1
    if not name:
        err(
            "error: error when retrieving current configuration of:\nResource: "
            f'"/v1, Resource={kind.lower()}s", GroupVersionKind: "/v1, Kind={kind}"\n'
            'Name: "", Namespace: ""\nfrom server for: "STDIN": resource name may not be empty'
        )
        return 1
    if kind == "Namespace":
        if name in _namespaces(state_of(host)):
            out(f"namespace/{name} unchanged")
            return 0
        agent.mutate(
            host, lambda s: s.setdefault("namespaces", {}).update({name: _new_namespace()})
        )
        out(f"namespace/{name} created")
        return 0
    target = metadata.get("namespace") or namespace or "default"
    if namespace and metadata.get("namespace") and metadata["namespace"] != namespace:
        err(
            f'error: the namespace from the provided object "{metadata["namespace"]}" does not '
            f'match the namespace "{namespace}". You must pass '
            f"'--namespace={metadata['namespace']}' to perform this operation."
        )
        return 1
    verb = "creating"
    if f"{target}/{name}" in state_of(host).get("secrets", {}):
        verb = "patching"
    if target not in _namespaces(state_of(host)):
        err(
            f'Error from server (NotFound): error when {verb} "STDIN": '
            f'namespaces "{target}" not found'
        )
        return 1
    try:
        data = _secret_data(document)
    except ValueError as exc:
        err(
            f'Error from server (BadRequest): error when {verb} "STDIN": Secret in version "v1" '
            f"cannot be handled as a Secret: {exc}"
        )
        return 1
    applied = copy.deepcopy(document)
    applied.setdefault("metadata", {})["namespace"] = target
    applied["metadata"].pop("annotations", None)
    last_applied = json.dumps(applied, separators=(",", ":"), sort_keys=True) + "\n"
    labels = dict(metadata.get("labels") or {})
    annotations = {**(metadata.get("annotations") or {}), LAST_APPLIED: last_applied}
    secret_type = document.get("type", "Opaque")
    outcome = {}

    def write(state: dict) -> None:
        secrets = state.setdefault("secrets", {})
        old = secrets.get(f"{target}/{name}")
        if old is None:
            secrets[f"{target}/{name}"] = _secret_object(
                target, name, secret_type, data, labels, annotations
            )
            outcome["verb"] = "created"
            return
        if old.get("type", "Opaque") != secret_type:
            outcome["verb"] = "invalid"
            outcome["old_type"] = old.get("type", "Opaque")
            return
        new_meta = {
            **old["metadata"],
            "labels": labels or None,
            "annotations": annotations,
        }
        new_meta = {key: value for key, value in new_meta.items() if value is not None}
        if (old.get("data") or {}) == data and old["metadata"] == new_meta:
            outcome["verb"] = "unchanged"
            return
        new_meta["resourceVersion"] = str(int(old["metadata"]["resourceVersion"]) + 1)
        secrets[f"{target}/{name}"] = {**old, "data": data, "metadata": new_meta}
        outcome["verb"] = "configured"

    with host.exclusive("state"):
        current = host.load_state() or host.fresh_state()
        write(copy.deepcopy(current))
    if outcome["verb"] == "invalid":
        err(
            f'The Secret "{name}" is invalid: type: Invalid value: "{secret_type}": field is '
            "immutable"
        )
        return 1
    if outcome["verb"] != "unchanged":
        agent.mutate(host, write)
    out(f"secret/{name} {outcome['verb']}")
    return 0


def _secret_data(document: dict) -> dict:
    """``data`` (checked base64) with ``stringData`` merged over it, as the API server does."""
    data = {}
    for key, value in (document.get("data") or {}).items():
        try:
            base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("illegal base64 data at input byte 0") from None
        data[str(key)] = str(value)
    for key, value in (document.get("stringData") or {}).items():
        data[str(key)] = base64.b64encode(str(value).encode()).decode()
    return data


def _secret_object(namespace, name, secret_type, data, labels, annotations) -> dict:  # noqa: PLR0917
    now = time.time()
    metadata = {
        "annotations": annotations,
        "creationTimestamp": timestamp(now),
        "name": name,
        "namespace": namespace,
        "resourceVersion": "1",
        "uid": str(uuid.uuid4()),
    }
    if labels:
        metadata["labels"] = labels
    return {
        "apiVersion": "v1",
        "data": data,
        "kind": "Secret",
        "metadata": metadata,
        "type": secret_type,
    }
