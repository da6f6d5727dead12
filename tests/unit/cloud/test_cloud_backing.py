"""The lab cloud's per-network resolver (Neutron's dnsmasq on the DHCP port), built from the
API state by kubesalt.cloud.backing.resolver, on an API-only cloud made through the provider as
Terraform calls it; its records answered by kubesalt.lab.dns's responder."""

import socket
import struct

import pytest

from kubesalt.cloud import backing
from kubesalt.cloud import catalogue
from kubesalt.cloud.openstack import OpenStackProvider
from kubesalt.cloud.plugin import ProviderError
from kubesalt.cloud.store import Store
from kubesalt.lab import dns


@pytest.fixture
def provider(tmp_path):
    with Store(tmp_path).transaction():
        pass
    provider = OpenStackProvider()
    provider.configure({"auth_url": f"kubesalt-lab://{tmp_path}"})
    return provider


def _network(provider, name, cidr, **subnet):
    network = provider.create("openstack_networking_network_v2", {"name": name}, {})
    pool = {"start": cidr.replace("0.0/16", "200.0"), "end": cidr.replace("0.0/16", "255.254")}
    created = provider.create(
        "openstack_networking_subnet_v2",
        {
            "name": name,
            "network_id": network["id"],
            "cidr": cidr,
            "ip_version": 4,
            "allocation_pool": [pool],
            **subnet,
        },
        {},
    )
    return network["id"], created["id"]


def _server(provider, name, ports):
    return provider.create(
        "openstack_compute_instance_v2",
        {
            "name": name,
            "image_name": catalogue.IMAGES[0]["name"],
            "flavor_name": "m1.small",
            "network": [{"port": p} for p in ports],
        },
        {},
    )


def _port(provider, network_id, subnet_id, address=None):
    fixed = {"subnet_id": subnet_id, **({"ip_address": address} if address else {})}
    return provider.create(
        "openstack_networking_port_v2",
        {"network_id": network_id, "fixed_ip": [fixed]},
        {},
    )["id"]


def _query(name: str, qtype: int) -> bytes:
    question = b"".join(bytes([len(x)]) + x.encode() for x in name.split(".")) + b"\0"
    return struct.pack("!HHHHHH", 7, 0x0100, 1, 0, 0, 0) + question + struct.pack("!HH", qtype, 1)


def test_the_dhcp_port_takes_the_pools_first_address_and_is_never_allocated(provider):
    network, subnet = _network(provider, "private", "10.1.0.0/16")
    assert provider.store.read()["subnets"][subnet]["dhcp_address"] == "10.1.200.0"
    port_id = _port(provider, network, subnet)
    port = provider.store.read()["ports"][port_id]
    assert port["fixed_ips"][0]["ip_address"] == "10.1.200.1"
    with pytest.raises(ProviderError) as refused:
        _port(provider, network, subnet, "10.1.200.0")
    assert "IP address 10.1.200.0 already allocated" in str(refused.value.detail)


def test_records_are_the_instances_names_on_that_network(provider):
    private, private_subnet = _network(provider, "private", "10.1.0.0/16")
    public, public_subnet = _network(provider, "public", "10.0.0.0/16")
    _server(
        provider,
        "kubesalt-bastion.lab.kubesalt.test",
        [
            _port(provider, public, public_subnet, "10.0.0.10"),
            _port(provider, private, private_subnet, "10.1.0.1"),
        ],
    )
    _server(provider, "k8s-worker-0", [_port(provider, private, private_subnet, "10.1.0.100")])
    cloud = provider.store.read()

    addresses, records = backing.resolver(cloud, private)
    assert addresses == ["10.1.200.0/16"]
    assert records == {
        "kubesalt-bastion": ["10.1.0.1"],
        "kubesalt-bastion.lab.kubesalt.test": ["10.1.0.1"],
        "k8s-worker-0": ["10.1.0.100"],
    }
    assert backing.resolver(cloud, public) == (
        ["10.0.200.0/16"],
        {"kubesalt-bastion": ["10.0.0.10"], "kubesalt-bastion.lab.kubesalt.test": ["10.0.0.10"]},
    )

    # what the responder answers from them: A and PTR for the instances, NXDOMAIN otherwise
    zone = dns.Zone.from_records(records)
    known = dns.answer(_query("k8s-worker-0", dns.TYPE_A), zone)
    assert known[-4:] == socket.inet_aton("10.1.0.100") and known[3] & 0xF == dns.RCODE_NOERROR
    unknown = dns.answer(_query("deb.debian.org", dns.TYPE_A), zone)
    assert unknown[3] & 0xF == dns.RCODE_NXDOMAIN
    ptr = dns.answer(_query("1.0.1.10.in-addr.arpa", dns.TYPE_PTR), zone)
    assert b"kubesalt-bastion" in ptr


def test_no_resolver_on_a_subnet_without_dhcp(provider):
    network, _ = _network(provider, "private", "10.1.0.0/16", enable_dhcp=False)
    assert backing.resolver(provider.store.read(), network) == ([], {})
