"""Plain data the SLS files loop over, computed from the inventory and the mine."""

from __future__ import annotations

import ipaddress


def _first_address_in(published, private_cidr):
    """Pick the published address inside the private network (the mine sends a list)."""
    if isinstance(published, str):
        published = [published]
    if not isinstance(published, list):
        return None
    network = None
    if private_cidr:
        try:
            network = ipaddress.IPv4Network(private_cidr)
        except ValueError:
            network = None
    for candidate in published:
        try:
            address = ipaddress.IPv4Address(candidate)
        except ValueError:
            continue
        if network is None or address in network:
            return str(address)
    return None


def host_entries(nodes, published, private_cidr=None):
    """Return ``[{"ip": ..., "names": [fqdn, short]}]`` sorted by FQDN.

    ``published`` is the mine's ``{minion id: [addresses]}``; a node that has not published
    yet keeps the inventory's ``private_ip``, so the first run and later runs agree.
    """
    entries = []
    for node_id in sorted(nodes):
        node = nodes[node_id] or {}
        address = _first_address_in(published.get(node_id), private_cidr) or node.get("private_ip")
        if not address:
            continue
        short = node_id.partition(".")[0]
        names = [node_id] if short == node_id else [node_id, short]
        entries.append({"ip": str(address), "names": names})
    return entries


def inventory_addresses(minion_ids, nodes, published, private_cidr=None):
    """Return ``{minion id: [addresses]}``: the inventory's ``private_ip`` and the address
    the node published in the mine (inside the private network), either may be missing."""
    found = {}
    for minion_id in minion_ids:
        addresses = []
        for address in (
            _first_address_in(published.get(minion_id), private_cidr),
            (nodes.get(minion_id) or {}).get("private_ip"),
        ):
            if address and str(address) not in addresses:
                addresses.append(str(address))
        found[minion_id] = addresses
    return found


def addon_plan(addons):
    """Split the pillar's ``{name: bool | {enabled, args}}`` into what to enable and disable."""
    enabled, disabled = [], []
    for name in sorted(addons):
        wanted = addons[name]
        if isinstance(wanted, dict):
            if wanted.get("enabled", True):
                enabled.append({"name": name, "args": list(wanted.get("args") or [])})
            else:
                disabled.append(name)
        elif wanted:
            enabled.append({"name": name, "args": []})
        else:
            disabled.append(name)
    return {"enabled": enabled, "disabled": disabled}


def join_plan(minion_id, control_planes, workers, published):
    """Return this node's role in the join and where it joins (see ``cluster.join_plan``)."""
    if control_planes and minion_id == control_planes[0]:
        role = "bootstrap"
    elif minion_id in control_planes:
        role = "control-plane"
    elif minion_id in workers:
        role = "worker"
    else:
        role = None
    # Every control plane in the cluster registers the pending nodes' join tokens (its
    # pillar carries them), so a node can join through any of them: the bootstrap control
    # plane first, then the others in inventory order, each with its own certificate check
    # (its agent's server.crt). A control plane not yet in the cluster has no token
    # registered and refuses the join without consuming anything.
    addresses, fingerprint, waiting = [], None, []
    if role in ("control-plane", "worker"):
        fingerprint = {}
        for control_plane in control_planes:
            if control_plane == minion_id:
                continue
            info = published.get(control_plane)
            if isinstance(info, dict) and info.get("address") and info.get("fingerprint"):
                addresses.append(info["address"])
                fingerprint[info["address"].rsplit(":", 1)[0]] = info["fingerprint"]
        if not addresses:
            waiting.append(control_planes[0])
            fingerprint = None
    # dqlite adds one voter at a time: a control plane joins after those before it in the
    # inventory (the bootstrap one aside, which forms the cluster).
    after = []
    if role == "control-plane":
        after = control_planes[1 : control_planes.index(minion_id)]
    return {
        "role": role,
        "addresses": addresses,
        "fingerprint": fingerprint,
        "waiting_for": waiting,
        "after": after,
    }


def not_yet_members(control_planes, published):
    """The control planes of ``control_planes`` whose status in the mine (``{id: microk8s
    status}``) does not show them in a cluster of two nodes or more yet."""
    missing = []
    for minion_id in control_planes:
        status = published.get(minion_id)
        ha = status.get("high_availability") if isinstance(status, dict) else None
        nodes = ha.get("nodes") if isinstance(ha, dict) else None
        if not isinstance(nodes, list) or len(nodes) < 2:
            missing.append(minion_id)
    return missing


def node_names(minion_ids):
    """Kubernetes names MicroK8s gives the nodes: the host name, i.e. the id's first label."""
    return sorted({minion_id.partition(".")[0] for minion_id in minion_ids})


def membership(inventory, expected_joiners, current, local):
    """Return ``{"pending": [ids], "stale": [names]}`` (see ``cluster.membership``).

    ``inventory`` maps every MicroK8s minion id of the inventory to its known addresses (the
    inventory's ``private_ip`` and what it published in the mine); ``current`` is the
    cluster's ``[{"name", "address"}]`` (address: the node's InternalIP), None when the
    cluster cannot be read; ``local`` is ``{"names": [...], "addresses": [...]}`` of this
    node.

    Nodes are matched by InternalIP, never by name: MicroK8s names a node after its host
    name, which need not be the minion id's first label (MAAS-deployed or pre-existing
    hosts). A node is stale only when its address is known and belongs to no inventory
    node; this node itself is never stale; when no node of the cluster matches the
    inventory at all (wrong addresses, wrong network), nothing is.
    """
    if current is None:
        return {"pending": list(expected_joiners), "stale": []}
    nodes = [node for node in current if isinstance(node, dict) and node.get("name")]
    present = {node.get("address") for node in nodes if node.get("address")}
    present_names = {node["name"] for node in nodes}
    wanted = {address for addresses in inventory.values() for address in addresses or ()}
    local_names = set(local.get("names") or ())
    local_addresses = set(local.get("addresses") or ())

    # An inventory node with no address known yet (not published, none in the inventory)
    # is matched by name: that node is not stale either.
    by_name = {
        minion_id.partition(".")[0]
        for minion_id, addresses in inventory.items()
        if not addresses and minion_id.partition(".")[0] in present_names
    }

    def joined(minion_id):
        addresses = set(inventory.get(minion_id) or ())
        if addresses:
            return bool(addresses & present)
        return minion_id.partition(".")[0] in by_name

    stale = []
    if present & wanted:
        stale = sorted(
            node["name"]
            for node in nodes
            if node.get("address")
            and node["address"] not in wanted
            and node["address"] not in local_addresses
            and node["name"] not in local_names | by_name
        )
    return {
        "pending": [minion_id for minion_id in expected_joiners if not joined(minion_id)],
        "stale": stale,
    }


def launch_config(networks, private_ip=None):
    """MicroK8s' launch configuration (read at snap install, ``/etc/microk8s.yaml``): the pod
    and service networks (``extraCNIEnv``, as MicroK8s' own tests set them; its install hook
    then writes Calico's pool, kube-proxy's and kube-controller-manager's ``--cluster-cidr``
    and the API server's ``--service-cluster-ip-range``), the service network's first address
    as a certificate SAN, the cluster DNS address (the tenth), and the kubelet's node IP when
    known (the private address: without it the kubelet takes the default-route interface's)."""
    service = ipaddress.IPv4Network(networks["service_cidr"])
    config = {
        "version": "0.1.0",
        "extraCNIEnv": {
            "IPv4_SUPPORT": True,
            "IPv4_CLUSTER_CIDR": str(networks["pod_cidr"]),
            "IPv4_SERVICE_CIDR": str(service),
        },
        "extraSANs": [str(service[1])],
        "extraKubeletArgs": {"--cluster-dns": str(service[10])},
    }
    if private_ip:
        config["extraKubeletArgs"]["--node-ip"] = str(private_ip)
    return config
