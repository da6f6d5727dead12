"""The lab's hosts, addresses and inventory: pure data, no system calls.

The layout mirrors the Terraform deployment (DESIGN.md): a public network behind the
bastion and a private network where the salt master and the Kubernetes nodes live. A small
``outside`` host on the public network stands for the internet, so tests can prove that a
private host reaches a public address only through the bastion's NAT.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re

import yaml

DEFAULT_DOMAIN = "lab.kubesalt.test"
PUBLIC_CIDR = "10.0.0.0/16"
PRIVATE_CIDR = "10.1.0.0/16"
BASTION_PRIVATE_IP = "10.1.0.1"
OUTSIDE_PUBLIC_IP = "10.0.0.254"
# The lab's resolver on the private network (kubesalt.lab.dns), where a cloud subnet has its
# DHCP port's dnsmasq: the address after the gateway (the bastion, .1).
RESOLVER_IP = "10.1.0.2"
FIRST_CONTROL_PLANE_IP = 10  # 10.1.0.10, 10.1.0.11, ...
FIRST_WORKER_IP = 100  # 10.1.0.100, 10.1.0.101, ...
MAX_CONTROL_PLANES = 50
MAX_WORKERS = 150
# MAAS (``lab up --maas``): a region with its PostgreSQL, and two racks.
MAAS_REGION_IP = 30  # 10.1.0.30
MAAS_RACKS = 2  # maas-rack-0 at 10.1.0.31, maas-rack-1 at 10.1.0.32
# Bare-metal machines MAAS deploys (``lab up --maas --bare-metal N``): k8s-bm-0 at 10.1.0.120...
FIRST_BARE_METAL_IP = 120
MAX_BARE_METAL = 20
BARE_METAL_ROLE = "maas_machine"

# Interface names inside the hosts: the private network on eth0, the public one on eth1
# (the outside host has only the public network, on eth0).
PRIVATE_IFACE = "eth0"
PUBLIC_IFACE = "eth1"

_DOMAIN_RE = re.compile(r"^(?=.{1,200}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


class TopologyError(ValueError):
    """The requested lab cannot be built (bad count or domain)."""


@dataclasses.dataclass(frozen=True)
class Host:
    """One lab host: its names, roles and addresses."""

    name: str
    domain: str
    roles: tuple[str, ...]
    private_ip: str | None = None
    public_ip: str | None = None
    runs_salt: bool = True
    # A machine MAAS deploys: powered off (no Salt running, not in the inventory) until the
    # lab's power driver boots the user-data MAAS deploys it with (kubesalt.lab.power).
    bare_metal: bool = False

    @property
    def fqdn(self) -> str:
        return f"{self.name}.{self.domain}"

    @property
    def minion_id(self) -> str:
        return self.fqdn

    @property
    def main_ip(self) -> str:
        return self.private_ip or self.public_ip

    def interfaces(self) -> list[tuple[str, str, str]]:
        """``(iface, network, cidr address)`` of each link, private network first."""
        links = []
        private_prefix = ipaddress.ip_network(PRIVATE_CIDR).prefixlen
        public_prefix = ipaddress.ip_network(PUBLIC_CIDR).prefixlen
        if self.private_ip:
            links.append((PRIVATE_IFACE, "private", f"{self.private_ip}/{private_prefix}"))
        if self.public_ip:
            iface = PUBLIC_IFACE if self.private_ip else PRIVATE_IFACE
            links.append((iface, "public", f"{self.public_ip}/{public_prefix}"))
        return links

    def default_gateway(self) -> str | None:
        """Private-only hosts (and the master, like in the cloud) route through the bastion;
        the bastion and the outside host reach "the internet" directly."""
        if self.name == "bastion":
            return OUTSIDE_PUBLIC_IP
        if self.name == "outside":
            return None
        return BASTION_PRIVATE_IP


def _private(offset: int) -> str:
    return str(ipaddress.ip_network(PRIVATE_CIDR).network_address + offset)


def check_domain(domain: str) -> str:
    """Return ``domain`` if it is a DNS name, else raise TopologyError naming it."""
    if not isinstance(domain, str) or not _DOMAIN_RE.match(domain):
        raise TopologyError(
            f"--domain {domain!r} is not a DNS name (lower-case labels separated by dots, "
            "e.g. lab.kubesalt.test)"
        )
    return domain


def build_hosts(
    workers: int = 2,
    control_planes: int = 1,
    domain: str = DEFAULT_DOMAIN,
    *,
    maas: bool = False,
    bare_metal: int = 0,
) -> list[Host]:
    """The hosts of a lab, in start order: salt, bastion, control planes, workers, the MAAS
    hosts (with ``maas``) and ``bare_metal`` machines for MAAS to deploy, outside."""
    check_domain(domain)
    if not isinstance(bare_metal, int) or not 0 <= bare_metal <= MAX_BARE_METAL:
        raise TopologyError(
            f"--bare-metal must be between 0 and {MAX_BARE_METAL}, got {bare_metal!r}"
        )
    if bare_metal and not maas:
        raise TopologyError("--bare-metal needs --maas: MAAS deploys the bare-metal machines")
    if not isinstance(control_planes, int) or not 1 <= control_planes <= MAX_CONTROL_PLANES:
        raise TopologyError(
            f"--control-planes must be between 1 and {MAX_CONTROL_PLANES}, got {control_planes!r}"
        )
    if not isinstance(workers, int) or not 0 <= workers <= MAX_WORKERS:
        raise TopologyError(f"--workers must be between 0 and {MAX_WORKERS}, got {workers!r}")
    hosts = [
        Host("salt", domain, ("salt_master",), private_ip=_private(5)),
        Host(
            "bastion",
            domain,
            ("bastion",),
            private_ip=BASTION_PRIVATE_IP,
            public_ip="10.0.0.10",
        ),
    ]
    for index in range(control_planes):
        name = "k8s-master" if index == 0 else f"k8s-master-{index}"
        hosts.append(
            Host(
                name,
                domain,
                ("microk8s_control_plane",),
                private_ip=_private(FIRST_CONTROL_PLANE_IP + index),
                # Only the first control plane has the public (floating) address.
                public_ip="10.0.0.20" if index == 0 else None,
            )
        )
    for index in range(workers):
        hosts.append(
            Host(
                f"k8s-worker-{index}",
                domain,
                ("microk8s_worker",),
                private_ip=_private(FIRST_WORKER_IP + index),
            )
        )
    if maas:
        hosts += maas_hosts(domain)
    hosts += [
        Host(
            f"k8s-bm-{index}",
            domain,
            (BARE_METAL_ROLE,),
            private_ip=_private(FIRST_BARE_METAL_IP + index),
            runs_salt=False,
            bare_metal=True,
        )
        for index in range(bare_metal)
    ]
    hosts.append(Host("outside", domain, (), public_ip=OUTSIDE_PUBLIC_IP, runs_salt=False))
    return hosts


def maas_hosts(domain: str) -> list[Host]:
    """The MAAS region (database and region controller) and its rack controllers."""
    region = Host(
        "maas-region", domain, ("maas_db", "maas_region"), private_ip=_private(MAAS_REGION_IP)
    )
    racks = [
        Host(
            f"maas-rack-{index}",
            domain,
            ("maas_rack",),
            private_ip=_private(MAAS_REGION_IP + 1 + index),
        )
        for index in range(MAAS_RACKS)
    ]
    return [region, *racks]


def inventory(hosts: list[Host]) -> dict:
    """The ``_from_terraform.sls`` pillar (the same shape Terraform's cloud-init writes)."""
    salt_hosts = [host for host in hosts if host.runs_salt]
    domain = salt_hosts[0].domain
    control_planes = [h for h in salt_hosts if "microk8s_control_plane" in h.roles]
    workers = [h for h in salt_hosts if "microk8s_worker" in h.roles]
    nodes = {}
    for host in salt_hosts:
        node = {"roles": list(host.roles), "private_ip": host.private_ip}
        if host.public_ip:
            node["public_ip"] = host.public_ip
        nodes[host.fqdn] = node
    master = next(h for h in salt_hosts if "salt_master" in h.roles)
    return {
        "kubesalt": {
            "domain": domain,
            "networks": {"public_cidr": PUBLIC_CIDR, "private_cidr": PRIVATE_CIDR},
            "salt_master": master.fqdn,
            # the lab's resolver on the private network (Terraform writes the subnet's
            # dns_nameservers here): the lab's names at once, NXDOMAIN for any other
            "resolv": {"nameservers": [RESOLVER_IP]},
            "microk8s": {
                "control_planes": [h.fqdn for h in control_planes],
                "workers": [h.fqdn for h in workers],
                "floating_ip": control_planes[0].public_ip,
            },
            "nodes": nodes,
        }
    }


def inventory_sls(hosts: list[Host]) -> str:
    """``inventory`` as the YAML text of ``_from_terraform.sls``."""
    header = (
        "# Written by `kubesalt lab up` (Terraform's cloud-init writes the same). Do not edit.\n"
    )
    return header + yaml.safe_dump(inventory(hosts), default_flow_style=False, sort_keys=False)


def etc_hosts(hosts: list[Host]) -> str:
    """``/etc/hosts`` of every host: localhost, then each lab host's FQDN and short name."""
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback", ""]
    for host in hosts:
        lines.append(f"{host.main_ip}\t{host.fqdn} {host.name}")
    return "\n".join(lines) + "\n"


def dns_records(hosts: list[Host]) -> dict[str, list[str]]:
    """What the lab's resolver answers: every host's FQDN with its main address (the private
    one when it has one, as in /etc/hosts)."""
    return {host.fqdn: [host.main_ip] for host in hosts}


def resolv_conf(domain: str) -> str:
    """``/etc/resolv.conf``: the lab's resolver, which answers at once (the lab's names, and
    NXDOMAIN for any other: no traffic leaves the lab)."""
    return f"search {domain}\nnameserver {RESOLVER_IP}\noptions timeout:1 attempts:2\n"
