"""The operator's kubeconfig: MicroK8s' admin kubeconfig (``microk8s config``) pointed at the
cluster's API address (the load balancer or floating IP) instead of one node's address."""

from __future__ import annotations

import ipaddress

import yaml

API_PORT = 16443  # kube-apiserver's --secure-port in MicroK8s


def api_url(address: str, port: int = API_PORT) -> str:
    """``https://ADDRESS:PORT`` (IPv6 in brackets); an ``https://`` URL is kept as it is."""
    address = str(address).strip()
    if not address:
        raise ValueError("server: give the API address (an IP, a DNS name or an https:// URL)")
    if address.startswith("https://"):
        return address.rstrip("/")
    if address.startswith("http://"):
        raise ValueError(f"server: the API server speaks https only, not {address!r}")
    try:
        if ipaddress.ip_address(address).version == 6:
            return f"https://[{address}]:{port}"
    except ValueError:
        pass
    return f"https://{address}:{port}"


def for_operator(text: str, server: str, name: str | None = None) -> tuple[str, dict]:
    """Rewrite every cluster's ``server`` to SERVER (and, with NAME, the cluster, context and
    user names, so the file merges into an operator's config without clashing). Returns the
    new text and what it holds, without a secret: ``{"server", "cluster", "context",
    "user", "credential"}``."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ValueError(f"microk8s config printed no YAML ({err})") from None
    if not isinstance(data, dict) or data.get("kind") != "Config" or not data.get("clusters"):
        raise ValueError("microk8s config printed no kubeconfig (kind: Config with clusters)")
    for entry in data["clusters"]:
        entry.setdefault("cluster", {})["server"] = server
    users = data.get("users") or [{}]
    contexts = data.get("contexts") or [{}]
    if name:
        renames = {}
        for kind, items in (("cluster", data["clusters"]), ("user", users)):
            for item in items:
                renames[(kind, item.get("name"))] = name if kind == "cluster" else f"{name}-admin"
                item["name"] = renames[(kind, item.get("name"))]
        for context in contexts:
            inner = context.setdefault("context", {})
            inner["cluster"] = renames.get(("cluster", inner.get("cluster")), name)
            inner["user"] = renames.get(("user", inner.get("user")), f"{name}-admin")
            context["name"] = name
        data["current-context"] = name
    user = users[0].get("user") or {}
    credential = (
        "client certificate"
        if user.get("client-certificate-data")
        else "token"
        if user.get("token")
        else "none"
    )
    info = {
        "server": server,
        "cluster": data["clusters"][0].get("name"),
        "context": data.get("current-context"),
        "user": users[0].get("name"),
        "credential": credential,
    }
    return yaml.safe_dump(data, default_flow_style=False, sort_keys=False), info
