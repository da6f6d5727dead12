"""The lab's networks: addresses, routes, the bastion's NAT, nothing on the machine."""

from __future__ import annotations

import ipaddress
import json
import socket
import subprocess

import pytest

from tests.support.lab_network import peer_seen_by_outside


def _addresses(lab, host):
    out = lab.exec(host, ["ip", "-o", "-4", "addr", "show"], check=True).stdout
    return {(line.split()[1], line.split()[3]) for line in out.splitlines()}


@pytest.mark.parametrize(
    "host, expected",
    [
        ("salt", {("lo", "127.0.0.1/8"), ("eth0", "10.1.0.5/16")}),
        ("bastion", {("lo", "127.0.0.1/8"), ("eth0", "10.1.0.1/16"), ("eth1", "10.0.0.10/16")}),
        (
            "k8s-master",
            {("lo", "127.0.0.1/8"), ("eth0", "10.1.0.10/16"), ("eth1", "10.0.0.20/16")},
        ),
        ("k8s-master-1", {("lo", "127.0.0.1/8"), ("eth0", "10.1.0.11/16")}),
        ("k8s-worker-0", {("lo", "127.0.0.1/8"), ("eth0", "10.1.0.100/16")}),
        ("k8s-worker-1", {("lo", "127.0.0.1/8"), ("eth0", "10.1.0.101/16")}),
        ("outside", {("lo", "127.0.0.1/8"), ("eth0", "10.0.0.254/16")}),
    ],
)
def test_addresses(net_lab, host, expected):
    assert _addresses(net_lab, host) == expected


@pytest.mark.parametrize("host", ["salt", "k8s-master", "k8s-master-1", "k8s-worker-1"])
def test_private_hosts_route_through_the_bastion(net_lab, host):
    routes = net_lab.exec(host, ["ip", "route", "show", "default"], check=True).stdout
    assert routes.split()[:3] == ["default", "via", "10.1.0.1"]


def test_names_files_and_hostname(net_lab):
    worker = "k8s-worker-1"
    assert net_lab.exec(worker, ["hostname"], check=True).stdout == "k8s-worker-1\n"
    assert net_lab.exec(worker, ["cat", "/etc/hostname"], check=True).stdout == "k8s-worker-1\n"
    hosts = net_lab.exec(worker, ["cat", "/etc/hosts"], check=True).stdout
    assert "10.1.0.5\tsalt.lab.kubesalt.test salt\n" in hosts
    resolv = net_lab.exec(worker, ["cat", "/etc/resolv.conf"], check=True).stdout
    assert "search lab.kubesalt.test" in resolv
    resolved = net_lab.exec(worker, ["getent", "hosts", "bastion"], check=True).stdout
    assert resolved.split()[0] == "10.1.0.1"


# glibc's own resolver in a host: the lab's names (forward and reverse) through DNS only
# (getent -s dns skips /etc/hosts), and any other name refused at once, never a timeout.
RESOLVE = r"""
import json, socket, subprocess, time
out = {}
for name in ("k8s-master.lab.kubesalt.test", "10.1.0.5", "nosuch.lab.kubesalt.test"):
    run = subprocess.run(["getent", "-s", "dns", "hosts", name], capture_output=True, text=True)
    out[name] = [run.returncode, run.stdout.split()]
started = time.monotonic()
for name in ("pypi.org", "nosuch", "deb.debian.org"):  # the search domain is tried too
    try:
        socket.getaddrinfo(name, 443)
        out[name] = "resolved"
    except socket.gaierror as exc:
        out[name] = exc.errno
out["seconds"] = time.monotonic() - started
print(json.dumps(out))
"""


def test_the_lab_resolver_answers_at_once(net_lab):
    resolv = net_lab.exec("k8s-worker-0", ["cat", "/etc/resolv.conf"], check=True).stdout
    assert "nameserver 10.1.0.2\n" in resolv
    for host in ("k8s-worker-0", "bastion", "salt"):
        answers = json.loads(net_lab.exec(host, ["python3", "-c", RESOLVE], check=True).stdout)
        assert answers["k8s-master.lab.kubesalt.test"] == [
            0,
            ["10.1.0.10", "k8s-master.lab.kubesalt.test"],
        ]
        assert answers["10.1.0.5"] == [0, ["10.1.0.5", "salt.lab.kubesalt.test"]]
        assert answers["nosuch.lab.kubesalt.test"][0] == 2  # not found
        for name in ("pypi.org", "nosuch", "deb.debian.org"):
            assert answers[name] == socket.EAI_NONAME, (host, name, answers)
        # Six look-ups (three names, each with and without the search domain), each
        # answered at once: the old resolv.conf waited 1-4 s for each.
        assert answers["seconds"] < 1.0, answers


def test_worker_reaches_the_outside_only_through_the_bastion_nat(net_lab):
    assert peer_seen_by_outside(net_lab, "k8s-worker-0") == "10.0.0.10"
    rule = ["POSTROUTING", "-s", "10.1.0.0/16", "-o", "eth1", "-j", "MASQUERADE"]
    net_lab.exec("bastion", ["iptables", "-t", "nat", "-D", *rule], check=True)
    try:
        # Without the NAT the outside has no way back to a private address.
        assert peer_seen_by_outside(net_lab, "k8s-worker-0", timeout=2) is None
    finally:
        net_lab.exec("bastion", ["iptables", "-t", "nat", "-A", *rule], check=True)
    assert peer_seen_by_outside(net_lab, "k8s-worker-1") == "10.0.0.10"


def test_no_lab_address_or_route_on_the_machine(net_lab):
    lab_networks = [ipaddress.ip_network("10.0.0.0/16"), ipaddress.ip_network("10.1.0.0/16")]
    out = subprocess.run(["ip", "-o", "-4", "addr"], capture_output=True, text=True, check=True)
    for line in out.stdout.splitlines():
        address = ipaddress.ip_interface(line.split()[3]).ip
        assert not any(address in network for network in lab_networks), line
    routes = subprocess.run(["ip", "route"], capture_output=True, text=True, check=True).stdout
    assert "10.1.0." not in routes and "10.0.0.0/16" not in routes
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True)
    for name in ("br-private", "br-public", "pri0", "pub1"):
        assert f": {name}" not in links.stdout
