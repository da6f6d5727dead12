"""The lab cloud's networks as a fabric: what Neutron's agents would wire, from the API state.

:func:`wire` gives every network with bound ports a bridge, every instance (or unbound port)
a network namespace with an interface per port (fixed IP with the subnet's prefix, the port's
MAC, in port-name order: ``eth0``, ``eth1`` ...), every router a namespace on the external
network (its gateway address) and on the subnets of its interfaces (their gateway addresses),
with the floating IPs as 1:1 NAT and SNAT for the subnets behind it (``enable_snat``), and
installs the security groups as per-port chains (:mod:`kubesalt.cloud.firewall`).

An instance's default route goes to the gateway of a subnet that has a router, else to its
first subnet's gateway unless that is itself (the root module's private network has the
bastion as gateway); the root module's netplan does the same on its two-network hosts.
Instances as lab hosts booting their user-data: :mod:`kubesalt.cloud.instances`.
"""

from __future__ import annotations

import dataclasses
import ipaddress

from kubesalt.cloud import firewall
from kubesalt.cloud.fabric import Fabric


@dataclasses.dataclass
class Wiring:
    bindings: dict[str, str]  # port id -> bridge device
    owners: dict[str, str]  # port id -> endpoint
    addresses: dict[str, tuple[str, str]]  # port name -> (endpoint, fixed IP)
    floating: dict[str, str]  # port name -> floating IP
    bridges: dict[str, str]  # network id -> bridge name


def bridge_name(network: dict, taken: set[str]) -> str:
    """The bridge of ``network``: ``ext`` for the external one, else the end of its name."""
    base = "ext" if network.get("external") else network["name"].rsplit("-", 1)[-1][:10]
    name = base
    while name in taken:
        name = f"{base[:8]}{len(taken)}"
    return name


def _bridge_names(cloud: dict, network_ids: set[str]) -> dict[str, str]:
    names: dict[str, str] = {}
    for network_id in sorted(network_ids):
        names[network_id] = bridge_name(cloud["networks"][network_id], set(names.values()))
    return names


def wire(fabric: Fabric, cloud: dict) -> Wiring:
    ports = [p for p in cloud["ports"].values() if not p.get("router_id")]
    routed_subnets = {i["subnet_id"] for r in cloud["routers"].values() for i in r["interfaces"]}
    network_ids = {p["network_id"] for p in ports} | {
        r["external_network_id"] for r in cloud["routers"].values() if r["external_network_id"]
    }
    network_ids |= {cloud["subnets"][s]["network_id"] for s in routed_subnets}
    bridges = _bridge_names(cloud, network_ids)
    for name in bridges.values():
        fabric.network(name)
    wiring = Wiring({}, {}, {}, {}, bridges)
    routes: dict[str, str] = {}
    for port in sorted(ports, key=lambda p: p["name"]):
        owner = port["device_id"] or port["name"] or port["id"]
        gateway, routed = attach_port(fabric, cloud, port, owner, wiring)
        if gateway and (owner not in routes or routed):
            routes[owner] = gateway
    for owner, gateway in routes.items():
        fabric.run(owner, ["ip", "route", "replace", "default", "via", gateway])
    for router in cloud["routers"].values():
        router_fabric(fabric, cloud, router, bridges, wiring)
    fabric.apply_firewall(firewall.iptables_restore(cloud, wiring.bindings))
    return wiring


def attach_port(
    fabric: Fabric, cloud: dict, port: dict, owner: str, wiring: Wiring
) -> tuple[str | None, bool]:
    """Give ``owner`` an interface for ``port`` (the next ``ethN``) on its network's bridge;
    return the port's subnet gateway (None when there is none or it is the port itself) and
    whether a router serves that subnet."""
    routed_subnets = {i["subnet_id"] for r in cloud["routers"].values() for i in r["interfaces"]}
    subnet = cloud["subnets"][port["fixed_ips"][0]["subnet_id"]]
    prefix = ipaddress.ip_network(subnet["cidr"]).prefixlen
    ip = port["fixed_ips"][0]["ip_address"]
    iface = f"eth{sum(1 for o in wiring.owners.values() if o == owner)}"
    device = fabric.attach(
        owner, wiring.bridges[port["network_id"]], iface, f"{ip}/{prefix}", port["mac_address"]
    )
    wiring.bindings[port["id"]] = device
    wiring.owners[port["id"]] = owner
    wiring.addresses[port["name"]] = (owner, ip)
    gateway = subnet["gateway_ip"]
    return (gateway if gateway and gateway != ip else None), subnet["id"] in routed_subnets


def router_fabric(fabric: Fabric, cloud: dict, router: dict, bridges: dict, wiring: Wiring) -> None:
    if not router["external_fixed_ips"]:
        return
    external = router["external_fixed_ips"][0]
    ext_subnet = cloud["subnets"][external["subnet_id"]]
    ext_prefix = ipaddress.ip_network(ext_subnet["cidr"]).prefixlen
    internal, snat = [], []
    for interface in router["interfaces"]:
        subnet = cloud["subnets"][interface["subnet_id"]]
        prefix = ipaddress.ip_network(subnet["cidr"]).prefixlen
        internal.append((bridges[subnet["network_id"]], f"{subnet['gateway_ip']}/{prefix}"))
        snat.append(subnet["cidr"])
    floating = []
    names = {p["id"]: p["name"] for p in cloud["ports"].values()}
    for fip in cloud["floating_ips"].values():
        if fip.get("port_id") and fip.get("fixed_ip"):
            floating.append((fip["address"], fip["fixed_ip"]))
            wiring.floating[names.get(fip["port_id"], fip["port_id"])] = fip["address"]
    fabric.router(
        f"router-{router['id']}",
        (bridges[ext_subnet["network_id"]], f"{external['ip_address']}/{ext_prefix}"),
        internal,
        floating,
        snat if router.get("enable_snat", True) else [],
    )


def resolver(cloud: dict, network_id: str) -> tuple[list[str], dict[str, list[str]]]:
    """The DHCP port of ``network_id`` as Neutron's dnsmasq would serve it: its addresses
    (``address/prefix``, one per subnet with DHCP) and its records, every instance's hostname
    (Nova's, the server name up to the first dot, and the server name itself when it is a
    longer FQDN) to its fixed IPs on this network. ``([], {})`` without a DHCP subnet."""
    subnets = {
        s["id"]: s
        for s in cloud["subnets"].values()
        if s["network_id"] == network_id and s.get("enable_dhcp") and s.get("dhcp_address")
    }
    addresses = [
        f"{s['dhcp_address']}/{ipaddress.ip_network(s['cidr']).prefixlen}"
        for _, s in sorted(subnets.items())
    ]
    if not addresses:
        return [], {}
    records: dict[str, list[str]] = {}
    for server in sorted(cloud["servers"].values(), key=lambda s: s["name"]):
        ips = [
            ip["ip_address"]
            for port_id in server["ports"]
            for ip in cloud["ports"][port_id]["fixed_ips"]
            if ip["subnet_id"] in subnets
        ]
        if ips:
            for name in dict.fromkeys([server["name"].split(".")[0], server["name"]]):
                records.setdefault(name, []).extend(
                    ip for ip in ips if ip not in records.get(name, [])
                )
    return addresses, records
