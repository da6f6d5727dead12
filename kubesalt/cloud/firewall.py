"""Security groups as packets see them: per-port iptables chains on the lab's bridges.

Like Neutron's iptables-hybrid firewall driver, the filter sits outside the instance, where its
port meets the network: in the switch namespace, on the bridge, matched with ``physdev``
(``net.bridge.bridge-nf-call-iptables = 1`` there; that sysctl belongs to the network namespace,
so the machine's own is untouched). For every bound port with port security:

* ``FORWARD -m physdev --physdev-in <dev>`` jumps to the port's egress chain (``kso-``):
  anti-spoofing first (``kss-``: only its fixed IPs and allowed address pairs), then
  established/related return, invalid drop, one ``RETURN`` per egress rule, drop;
* ``FORWARD -m physdev --physdev-out <dev>`` jumps to its ingress chain (``ksi-``):
  established/related return, invalid drop, one ``RETURN`` per ingress rule, drop.

A packet between two ports passes the sender's egress chain and the receiver's ingress chain;
conntrack makes both directions of an accepted connection pass (stateful groups). Remote
groups are expanded by :func:`kubesalt.cloud.neutron.port_rules` (fixed IPs and address pairs).
A port without port security gets no chain; ARP is not filtered (Neutron's ARP spoofing
protection is not modelled).
"""

from __future__ import annotations

from kubesalt.cloud import neutron

FALLBACK = "ks-sg-fallback"


def _chain(prefix: str, port_id: str) -> str:
    return f"{prefix}-{port_id.replace('-', '')[:20]}"  # iptables: at most 28 characters


def _match(rule: neutron.Rule, remote_flag: str) -> list[list[str]]:
    """One iptables match per remote address of a rule (no remote: one match)."""
    base = []
    if rule.protocol not in (None, "", "any"):
        base += ["-p", str(rule.protocol)]
        if rule.port_min is not None and str(rule.protocol) in (
            "tcp",
            "udp",
            "sctp",
            "6",
            "17",
            "132",
        ):
            high = rule.port_max if rule.port_max is not None else rule.port_min
            ports = str(rule.port_min) if high == rule.port_min else f"{rule.port_min}:{high}"
            base += ["--dport", ports]
    if rule.any_remote:
        return [base]
    return [[*base, remote_flag, cidr] for cidr in rule.remotes]


def iptables_restore(cloud: dict, bindings: dict[str, str]) -> str:
    """``iptables-restore`` input for the switch namespace; ``bindings`` maps port id to the
    bridge device of that port."""
    chains = [f":{FALLBACK} - [0:0]"]
    rules = [f"-A {FALLBACK} -j DROP"]
    for port_id, device in sorted(bindings.items(), key=lambda item: item[1]):
        port = cloud["ports"][port_id]
        if not port.get("port_security_enabled", True):
            continue
        egress, ingress, spoof = (
            _chain("kso", port_id),
            _chain("ksi", port_id),
            _chain("kss", port_id),
        )
        chains += [f":{egress} - [0:0]", f":{ingress} - [0:0]", f":{spoof} - [0:0]"]
        rules += [
            f"-A FORWARD -m physdev --physdev-in {device} --physdev-is-bridged -j {egress}",
            f"-A FORWARD -m physdev --physdev-out {device} --physdev-is-bridged -j {ingress}",
        ]
        rules += [
            f"-A {spoof} -s {cidr} -j RETURN" for cidr in neutron.port_addresses(cloud, port_id)
        ]
        rules += [f"-A {spoof} -j DROP", f"-A {egress} -j {spoof}"]
        for chain in (egress, ingress):
            rules += [
                f"-A {chain} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
                f"-A {chain} -m conntrack --ctstate INVALID -j DROP",
            ]
        for rule in neutron.port_rules(cloud, port_id):
            chain, flag = (egress, "-d") if rule.direction == "egress" else (ingress, "-s")
            rules += [
                " ".join(["-A", chain, *match, "-j", "RETURN"]) for match in _match(rule, flag)
            ]
        rules += [f"-A {egress} -j {FALLBACK}", f"-A {ingress} -j {FALLBACK}"]
    return "*filter\n" + "\n".join(chains + rules) + "\nCOMMIT\n"
