"""Neutron's packet filtering semantics, evaluated on the lab cloud's API state.

What ML2 with the OVS (or iptables-hybrid) firewall driver does for a port, reproduced so that
a test can ask "would this connection be accepted?" and (next) so that the lab can install the
same filter per port:

* **per port**: a port's filter is the union of the rules of the security groups on *that
  port*; a port with port security on and no group drops everything;
* **stateful**: rules match a connection's first packet; replies of an accepted connection
  pass in the other direction without a rule (``stateful = false`` groups are not modelled:
  every group here is stateful, as created by the root module);
* **default egress**: a new group carries "egress, any, IPv4" and "egress, any, IPv6" unless
  created with ``delete_default_rules``; without an egress rule nothing leaves the port;
* **remote group**: ``remote_group_id`` matches the addresses of every port in that group:
  their fixed IPs **and their allowed address pairs** (the OVS driver's conjunction flows and
  the iptables driver's ipsets both take ``allowed_address_pairs``: a pair of ``0.0.0.0/0``
  makes the remote group match every IPv4 source);
* **anti-spoofing**: with port security, a packet may leave a port only from one of its fixed
  IPs or allowed address pairs; with port security off the port is not filtered at all.
"""

from __future__ import annotations

import dataclasses
import ipaddress

PROTOCOL_NUMBERS = {"icmp": 1, "tcp": 6, "udp": 17, "sctp": 132}


@dataclasses.dataclass(frozen=True)
class Rule:
    direction: str  # ingress | egress
    protocol: str | None  # None: any
    port_min: int | None
    port_max: int | None
    remotes: tuple[str, ...]  # CIDRs; () means any
    any_remote: bool
    rule_id: str
    group_id: str

    def matches(self, protocol: str, port: int | None, remote_ip: str) -> bool:
        if self.protocol is not None and _proto(self.protocol) != _proto(protocol):
            return False
        if self.port_min is not None and _proto(protocol) in (6, 17, 132):
            if port is None or not self.port_min <= port <= (self.port_max or self.port_min):
                return False
        if self.any_remote:
            return True
        address = ipaddress.ip_address(remote_ip)
        return any(address in ipaddress.ip_network(cidr, strict=False) for cidr in self.remotes)


def _proto(protocol) -> int | None:
    if protocol in (None, "", "any"):
        return None
    if isinstance(protocol, int) or str(protocol).isdigit():
        return int(protocol)
    return PROTOCOL_NUMBERS[str(protocol).lower()]


def group_members(cloud: dict, group_id: str) -> tuple[str, ...]:
    """The addresses a ``remote_group_id`` rule matches: every port of the group's fixed IPs
    and allowed address pairs (IPv4)."""
    members = []
    for port in cloud["ports"].values():
        if group_id not in port.get("security_group_ids", []):
            continue
        members += [f"{ip['ip_address']}/32" for ip in port["fixed_ips"]]
        members += [
            pair["ip_address"] if "/" in pair["ip_address"] else f"{pair['ip_address']}/32"
            for pair in port.get("allowed_address_pairs", [])
        ]
    return tuple(m for m in members if ipaddress.ip_network(m, strict=False).version == 4)


def port_rules(cloud: dict, port_id: str) -> list[Rule]:
    """The IPv4 rules in force on a port, remote groups resolved to addresses."""
    port = cloud["ports"][port_id]
    rules = []
    for group_id in port.get("security_group_ids", []):
        for rule in cloud["security_group_rules"].values():
            if rule["security_group_id"] != group_id or (rule.get("ethertype") or "IPv4") != "IPv4":
                continue
            remote_group = rule.get("remote_group_id")
            prefix = rule.get("remote_ip_prefix")
            if remote_group:
                remotes, any_remote = group_members(cloud, remote_group), False
            elif prefix:
                remotes, any_remote = (prefix,), False
            else:
                remotes, any_remote = (), True
            rules.append(
                Rule(
                    direction=rule["direction"],
                    protocol=rule.get("protocol"),
                    port_min=rule.get("port_range_min"),
                    port_max=rule.get("port_range_max"),
                    remotes=remotes,
                    any_remote=any_remote,
                    rule_id=rule["id"],
                    group_id=group_id,
                )
            )
    return rules


def port_addresses(cloud: dict, port_id: str) -> tuple[str, ...]:
    """Sources a port may send from (fixed IPs and allowed address pairs)."""
    port = cloud["ports"][port_id]
    return tuple(
        [f"{ip['ip_address']}/32" for ip in port["fixed_ips"]]
        + [
            p["ip_address"] if "/" in p["ip_address"] else f"{p['ip_address']}/32"
            for p in port.get("allowed_address_pairs", [])
        ]
    )


def ingress_allowed(
    cloud: dict, port_id: str, protocol: str, port: int | None, source: str
) -> bool:
    """Would the port accept a new connection from ``source`` to ``protocol``/``port``?"""
    if not cloud["ports"][port_id].get("port_security_enabled", True):
        return True
    return any(
        rule.direction == "ingress" and rule.matches(protocol, port, source)
        for rule in port_rules(cloud, port_id)
    )


def egress_allowed(
    cloud: dict, port_id: str, protocol: str, port: int | None, destination: str, *, source: str
) -> bool:
    """Would the port let a new connection out from ``source`` to ``destination``?"""
    if not cloud["ports"][port_id].get("port_security_enabled", True):
        return True
    address = ipaddress.ip_address(source)
    if not any(
        address in ipaddress.ip_network(c, strict=False) for c in port_addresses(cloud, port_id)
    ):
        return False  # anti-spoofing
    return any(
        rule.direction == "egress" and rule.matches(protocol, port, destination)
        for rule in port_rules(cloud, port_id)
    )


def why_allowed(
    cloud: dict, port_id: str, protocol: str, port: int | None, source: str
) -> list[str]:
    """The rules (group name, rule id, remotes) that accept an ingress connection: for messages."""
    groups = cloud["security_groups"]
    return [
        f"{groups.get(rule.group_id, {}).get('name', rule.group_id)}: {rule.rule_id} "
        f"({rule.protocol or 'any'} {rule.port_min}-{rule.port_max} from "
        f"{'any' if rule.any_remote else ', '.join(rule.remotes)})"
        for rule in port_rules(cloud, port_id)
        if rule.direction == "ingress" and rule.matches(protocol, port, source)
    ]
