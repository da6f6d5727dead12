"""Parse cluster outputs (``add-node --format json``, ``kubectl get nodes -o json``),
decide whether a node is already in a cluster, and explain failed
``join``/``leave``/``remove-node`` runs.

Nothing here ever puts a token into a message: callers pass outputs that MicroK8s printed,
and those may contain the token (``add-node``), so :func:`redact` is applied by the module.
"""

from __future__ import annotations

import ipaddress
import json

from microk8s_lib import constants

# Failure kinds of ``microk8s join``.
JOIN_UNREACHABLE = "unreachable"  # retried with backoff: the token was not consumed
JOIN_INVALID_TOKEN = "invalid-token"  # noqa: S105 (a failure kind, not a secret)
JOIN_ALREADY_KNOWN = "already-known"
JOIN_FINGERPRINT = "fingerprint"
JOIN_HOSTNAME = "hostname"
JOIN_OTHER = "other"

_UNREACHABLE_MARKERS = (
    "Connection refused",
    "ConnectionRefusedError",
    "Please ensure the master node is reachable",
    "Connecting to cluster failed",
    "No route to host",
    "timed out",
    "Network is unreachable",
    "Max retries exceeded",
    "Name or service not known",
    "Temporary failure in name resolution",
    "Connection reset",
)


def parse_add_node(text: str) -> dict:
    """Return ``{"token", "check", "urls"}`` from ``microk8s add-node --format json``."""
    start = (text or "").find("{")
    if start < 0:
        raise ValueError("microk8s add-node printed no JSON")
    try:
        data = json.loads(text[start:])
    except json.JSONDecodeError as err:
        raise ValueError(f"microk8s add-node printed invalid JSON ({err.msg})") from None
    if not isinstance(data, dict) or not isinstance(data.get("token"), str):
        raise ValueError("microk8s add-node JSON has no 'token'")
    token, _, check = data["token"].partition("/")
    urls = data.get("urls") or []
    if not isinstance(urls, list) or not all(isinstance(url, str) for url in urls):
        raise ValueError("microk8s add-node JSON has no list of 'urls'")
    return {"token": token, "check": check, "urls": urls}


def _node_roles(labels: dict) -> list[str]:
    roles = set()
    if "node.kubernetes.io/microk8s-controlplane" in labels:
        roles.add(constants.ROLE_CONTROL_PLANE)
    if "node.kubernetes.io/microk8s-worker" in labels:
        roles.add(constants.ROLE_WORKER)
    for label in labels:
        if label.startswith("node-role.kubernetes.io/"):
            role = label.split("/", 1)[1]
            roles.add(constants.ROLE_CONTROL_PLANE if role in ("master", "control-plane") else role)
    return sorted(roles)


def parse_nodes(text: str) -> list[dict]:
    """Return ``[{"name", "ready", "roles", "address", "version", "unschedulable"}]`` from
    ``kubectl get nodes -o json`` (``version``: the kubelet's, e.g. ``v1.32.3``;
    ``unschedulable``: cordoned)."""
    try:
        data = json.loads(text or "")
    except json.JSONDecodeError as err:
        raise ValueError(f"kubectl get nodes printed invalid JSON ({err.msg})") from None
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise ValueError("kubectl get nodes JSON has no 'items' list")
    nodes = []
    for item in data["items"]:
        metadata = item.get("metadata") or {}
        status = item.get("status") or {}
        addresses = status.get("addresses") or []
        internal = [a.get("address") for a in addresses if a.get("type") == "InternalIP"]
        # Dual-stack nodes list an IPv6 InternalIP too; MicroK8s clusters over IPv4.
        internal.sort(key=lambda address: ":" in (address or ""))
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in status.get("conditions") or []
        )
        nodes.append(
            {
                "name": metadata.get("name", ""),
                "ready": ready,
                "roles": _node_roles(metadata.get("labels") or {}),
                "address": internal[0] if internal else "",
                "version": (status.get("nodeInfo") or {}).get("kubeletVersion", ""),
                "unschedulable": bool((item.get("spec") or {}).get("unschedulable")),
            }
        )
    return nodes


def classify_join_failure(retcode: int, output: str) -> str:
    """Return the failure kind of a ``microk8s join`` that exited ``retcode``."""
    text = output or ""
    if "Invalid token" in text:
        return JOIN_INVALID_TOKEN
    if "already known to dqlite" in text:
        return JOIN_ALREADY_KNOWN
    if retcode == 4 or "Could not verify the identity" in text:
        return JOIN_FINGERPRINT
    if "does not resolve to the IP" in text:
        return JOIN_HOSTNAME
    if retcode == 5 or any(marker in text for marker in _UNREACHABLE_MARKERS):
        return JOIN_UNREACHABLE
    return JOIN_OTHER


def last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def explain_join_failure(kind: str, ip: str, output: str) -> str:
    """Say what a failed join means and what to do; ``output`` must already be redacted."""
    detail = last_line(output) or "no output"
    if kind == JOIN_INVALID_TOKEN:
        return (
            f"the control plane {ip} rejected the join token ({detail}): it is unknown, "
            "expired or already used (a single-use token is burnt by any join attempt). "
            "The control plane must register it again (state microk8s.token_registered, "
            "or 'microk8s add-node --token ... --token-ttl ...' there)"
        )
    if kind == JOIN_ALREADY_KNOWN:
        return (
            f"the control plane {ip} already knows this node's address in dqlite ({detail}); "
            "run 'microk8s remove-node <this node's ip> --force' on a control plane, "
            "then register the token again and retry"
        )
    if kind == JOIN_FINGERPRINT:
        return (
            f"the certificate of {ip} does not match the fingerprint ({detail}); its server "
            "certificate changed (refresh-certs, new SAN): publish the new fingerprint "
            "(microk8s.fingerprint on the control plane) or join without one"
        )
    if kind == JOIN_HOSTNAME:
        return (
            f"the control plane {ip} cannot resolve this node's hostname to its address "
            f"({detail}); add it to /etc/hosts on the control plane"
        )
    if kind == JOIN_UNREACHABLE:
        return (
            f"could not reach the cluster agent at {ip} ({detail}); check that MicroK8s runs "
            "there and that TCP port 25000 is open"
        )
    return f"joining the cluster at {ip} failed: {detail}"


# Verdicts of the membership decisions (state ``microk8s.cluster_joined``).
MEMBER = "member"  # already where it should be: nothing to do
REFUSED = "refused"  # in some other role or cluster: an error saying what to do
JOIN = "join"  # not in the cluster: join it


def standing(targets, own_addresses, node_is_worker: bool, worker: bool) -> tuple[str, str]:
    """What a node knows of its place before reading ``microk8s status``.

    ``targets`` are the control-plane IPs to join through, ``own_addresses`` this node's
    IPv4 addresses, ``node_is_worker`` whether it has a ``clustered.lock``, ``worker`` the
    role wanted. Returns ``(verdict, comment)``; ``JOIN`` means: read the status and ask
    :func:`membership`.
    """
    if set(own_addresses) & set(targets):
        return MEMBER, "This node is one of the cluster's control planes"
    if node_is_worker:
        if worker:
            return MEMBER, "This node is a worker of the cluster"
        return REFUSED, (
            "this node is a worker; to make it a control plane, run microk8s.leave here and "
            "microk8s.remove_node on a control plane first, then join again"
        )
    return JOIN, ""


def member_ips(status: dict) -> set:
    """The IPs of the dqlite members a running node's parsed status lists."""
    return {node["address"].rsplit(":", 1)[0] for node in status["high_availability"]["nodes"]}


def membership(targets, status: dict, worker: bool, label: str) -> tuple[str, str]:
    """Whether a running control-plane node is already in the cluster of ``targets``.

    ``status`` is its parsed ``microk8s status``, ``label`` the targets as shown to the
    user. Returns ``(verdict, comment)``: ``MEMBER``, ``REFUSED`` (with what to do) or
    ``JOIN`` (a lone node: join).
    """
    members = member_ips(status)
    if members & set(targets):
        if worker:
            return REFUSED, (
                "this node is a control plane of the cluster, not a worker; leave the "
                "cluster first to rejoin it as a worker"
            )
        return MEMBER, "This node is a control plane of the cluster"
    if status["high_availability"]["enabled"] and not members:
        # A node always lists itself; no member at all means dqlite could not be read.
        return REFUSED, (
            "cannot tell whether this node is in the cluster: microk8s status lists no "
            "dqlite member (the datastore did not answer); check 'microk8s status' and "
            "'microk8s inspect' before joining"
        )
    if len(members) > 1:
        return REFUSED, (
            "this node is already a control plane of a cluster whose dqlite members are "
            f"{', '.join(sorted(members))}, none of them {label} (if {label} is another "
            "address of one of them, give that address); run microk8s.leave first if the "
            "node must move"
        )
    return JOIN, ""


def usable_ipv4s(values) -> list[str]:
    """Of ``values`` (the ``ipv4`` grain), the IPv4 addresses another node could reach:
    not loopback, link-local or unspecified; anything else is left out."""
    found = []
    for value in values or []:
        try:
            address = ipaddress.IPv4Address(value)
        except ValueError:
            continue
        if not (address.is_loopback or address.is_link_local or address.is_unspecified):
            found.append(str(address))
    return found


def addon_command_problem(text: str, verb: str, name: str) -> str | None:
    """What went wrong when ``microk8s VERB NAME`` printed ``text`` (exit 0 or not): its help
    text instead of running, or an unknown addon; None when neither."""
    if "does not yet have a help message" in text or text.lstrip().startswith("Usage: microk8s"):
        return (
            f"microk8s {verb} {name} printed its help text instead of running (an argument "
            f"was read as a help flag): {last_line(text)}; nothing was {verb}d"
        )
    if f"Addon {name} not found" in text or "was not found in any" in text:
        return (
            f"microk8s {verb} {name}: the addon does not exist on this MicroK8s "
            f"({last_line(text)}); community addons need 'microk8s enable community'"
        )
    return None
