"""The lab's network: a switch namespace with the public and private bridges, a veth pair per
host interface, addresses and routes set from inside the hosts. No interface ever exists on
the machine itself.

Each function takes the :class:`kubesalt.lab.lab.Lab` it acts on (``lab``); not imported
here, so the package imports one way.
"""

from __future__ import annotations

import concurrent.futures
import ipaddress

from kubesalt.lab import topology
from kubesalt.lab.topology import Host


def wire_network(lab, hosts: list[Host]) -> None:
    """Bridges in the switch namespace, a veth pair per host interface (the host end created
    directly in the host's namespace), then each host's addresses, routes and the bastion's
    NAT, from inside the hosts."""
    pids = lab._pids()
    private_prefix = ipaddress.ip_network(topology.PRIVATE_CIDR).prefixlen
    # Every link is created from inside the switch namespace with its host end placed
    # directly into the host's namespace: no interface ever exists on the machine.
    batch = [
        "link add br-private type bridge",
        "link add br-public type bridge",
        "link set br-private up",
        "link set br-public up",
        # The resolver's address (it listens already, bound with IP_FREEBIND).
        f"addr add {topology.RESOLVER_IP}/{private_prefix} dev br-private",
    ]
    for index, host in enumerate(hosts):
        for iface, network, _address in host.interfaces():
            port = f"{network[:3]}{index}"  # e.g. pri3 / pub3: under 15 characters
            batch += [
                f"link add {port} type veth peer name {iface} netns {pids['hosts'][host.name]}",
                f"link set {port} master br-{network} up",
            ]
    lab.switch(["ip", "-batch", "-"], input="\n".join(batch) + "\n")

    def configure(host: Host) -> None:
        commands = []
        for iface, _network, address in host.interfaces():
            commands += [f"addr add {address} dev {iface}", f"link set {iface} up"]
        gateway = host.default_gateway()
        if gateway:
            commands.append(f"route add default via {gateway}")
        lab.exec(host.name, ["ip", "-batch", "-"], input="\n".join(commands) + "\n", check=True)
        if host.name == "bastion":
            # Like the cloud-init of the bastion: forward and masquerade the private net.
            script = (
                "echo 1 > /proc/sys/net/ipv4/ip_forward && "
                f"iptables -t nat -A POSTROUTING -s {topology.PRIVATE_CIDR} "
                f"-o {topology.PUBLIC_IFACE} -j MASQUERADE"
            )
            lab.exec(host.name, ["sh", "-c", script], check=True)

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(configure, hosts))
