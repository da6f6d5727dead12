"""The lab's layout and inventory (pure, no root needed)."""

from __future__ import annotations

import pytest
import yaml

from kubesalt.lab import saltconf
from kubesalt.lab import topology


def _by_name(hosts):
    return {host.name: host for host in hosts}


def test_default_layout_mirrors_terraform():
    hosts = _by_name(topology.build_hosts())
    assert list(hosts) == [
        "salt",
        "bastion",
        "k8s-master",
        "k8s-worker-0",
        "k8s-worker-1",
        "outside",
    ]
    assert (hosts["salt"].private_ip, hosts["salt"].public_ip) == ("10.1.0.5", None)
    assert (hosts["bastion"].private_ip, hosts["bastion"].public_ip) == ("10.1.0.1", "10.0.0.10")
    assert (hosts["k8s-master"].private_ip, hosts["k8s-master"].public_ip) == (
        "10.1.0.10",
        "10.0.0.20",
    )
    assert hosts["k8s-worker-1"].private_ip == "10.1.0.101"
    assert hosts["k8s-worker-0"].public_ip is None
    assert hosts["k8s-worker-0"].minion_id == "k8s-worker-0.lab.kubesalt.test"
    assert not hosts["outside"].runs_salt


def test_more_control_planes_and_workers():
    hosts = _by_name(topology.build_hosts(workers=8, control_planes=3, domain="x.example.org"))
    assert hosts["k8s-master-1"].private_ip == "10.1.0.11"
    assert hosts["k8s-master-2"].private_ip == "10.1.0.12"
    assert hosts["k8s-master-2"].public_ip is None
    assert hosts["k8s-worker-7"].private_ip == "10.1.0.107"
    assert hosts["k8s-worker-7"].fqdn == "k8s-worker-7.x.example.org"


def test_routes_go_through_the_bastion():
    hosts = _by_name(topology.build_hosts())
    assert hosts["k8s-worker-0"].default_gateway() == "10.1.0.1"
    assert hosts["salt"].default_gateway() == "10.1.0.1"
    assert hosts["bastion"].default_gateway() == topology.OUTSIDE_PUBLIC_IP
    assert hosts["outside"].default_gateway() is None
    assert hosts["bastion"].interfaces() == [
        ("eth0", "private", "10.1.0.1/16"),
        ("eth1", "public", "10.0.0.10/16"),
    ]
    assert hosts["outside"].interfaces() == [("eth0", "public", "10.0.0.254/16")]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"workers": -1}, "--workers"),
        ({"workers": 1000}, "--workers"),
        ({"control_planes": 0}, "--control-planes"),
        ({"domain": "Not A Domain"}, "--domain"),
        ({"domain": "nodots"}, "--domain"),
        ({"domain": "a*.example.org"}, "--domain"),
    ],
)
def test_bad_requests_name_the_option(kwargs, message):
    with pytest.raises(topology.TopologyError, match=message):
        topology.build_hosts(**kwargs)


def test_inventory_has_exactly_the_terraform_shape():
    inventory = yaml.safe_load(topology.inventory_sls(topology.build_hosts()))
    assert inventory == {
        "kubesalt": {
            "domain": "lab.kubesalt.test",
            "networks": {"public_cidr": "10.0.0.0/16", "private_cidr": "10.1.0.0/16"},
            "salt_master": "salt.lab.kubesalt.test",
            "resolv": {"nameservers": ["10.1.0.2"]},
            "microk8s": {
                "control_planes": ["k8s-master.lab.kubesalt.test"],
                "workers": ["k8s-worker-0.lab.kubesalt.test", "k8s-worker-1.lab.kubesalt.test"],
                "floating_ip": "10.0.0.20",
            },
            "nodes": {
                "salt.lab.kubesalt.test": {"roles": ["salt_master"], "private_ip": "10.1.0.5"},
                "bastion.lab.kubesalt.test": {
                    "roles": ["bastion"],
                    "private_ip": "10.1.0.1",
                    "public_ip": "10.0.0.10",
                },
                "k8s-master.lab.kubesalt.test": {
                    "roles": ["microk8s_control_plane"],
                    "private_ip": "10.1.0.10",
                    "public_ip": "10.0.0.20",
                },
                "k8s-worker-0.lab.kubesalt.test": {
                    "roles": ["microk8s_worker"],
                    "private_ip": "10.1.0.100",
                },
                "k8s-worker-1.lab.kubesalt.test": {
                    "roles": ["microk8s_worker"],
                    "private_ip": "10.1.0.101",
                },
            },
        }
    }


def test_control_planes_are_ordered_first_bootstraps():
    inventory = topology.inventory(topology.build_hosts(workers=0, control_planes=3))
    assert inventory["kubesalt"]["microk8s"]["control_planes"] == [
        "k8s-master.lab.kubesalt.test",
        "k8s-master-1.lab.kubesalt.test",
        "k8s-master-2.lab.kubesalt.test",
    ]
    assert inventory["kubesalt"]["microk8s"]["workers"] == []


def test_etc_hosts_lists_every_host():
    text = topology.etc_hosts(topology.build_hosts())
    assert "10.1.0.100\tk8s-worker-0.lab.kubesalt.test k8s-worker-0\n" in text
    assert "10.0.0.254\toutside.lab.kubesalt.test outside\n" in text
    assert text.startswith("127.0.0.1\tlocalhost\n")


def test_master_config_never_accepts_keys_by_itself():
    hosts = _by_name(topology.build_hosts())
    config = yaml.safe_load(saltconf.master_config(hosts["salt"]))
    assert config["auto_accept"] is False
    assert config["open_mode"] is False
    assert config["interface"] == "10.1.0.5"
    assert config["file_roots"] == {"base": ["/srv/kubesalt/states", "/srv/kubesalt/salt"]}
    assert config["pillar_roots"] == {"base": ["/srv/kubesalt/lab-pillar", "/srv/kubesalt/pillar"]}
    minion = yaml.safe_load(saltconf.minion_config(hosts["k8s-worker-0"], hosts["salt"]))
    assert minion["id"] == "k8s-worker-0.lab.kubesalt.test"
    assert minion["master"] == "salt.lab.kubesalt.test"


def test_init_script_is_lsb():
    script = saltconf.init_script("salt-minion", "/venv/bin/salt-minion", "Salt minion")
    assert script.startswith("#!/bin/sh\n### BEGIN INIT INFO\n# Provides:          salt-minion\n")
    assert "DAEMON=/venv/bin/salt-minion" in script
    for action in ("start)", "stop)", "restart|force-reload)", "status)"):
        assert action in script
    assert ("../init.d/salt-minion", "/etc/rc2.d/S01salt-minion") in saltconf.rc_links(
        "salt-minion"
    )


def test_maas_hosts_with_their_roles_in_the_inventory():
    hosts = _by_name(topology.build_hosts(workers=1, maas=True))
    assert list(hosts)[-4:] == ["maas-region", "maas-rack-0", "maas-rack-1", "outside"]
    assert hosts["maas-region"].private_ip == "10.1.0.30"
    assert hosts["maas-region"].roles == ("maas_db", "maas_region")
    assert [hosts[f"maas-rack-{i}"].private_ip for i in range(2)] == ["10.1.0.31", "10.1.0.32"]
    assert all(hosts[name].public_ip is None for name in ("maas-region", "maas-rack-0"))
    nodes = topology.inventory(list(hosts.values()))["kubesalt"]["nodes"]
    assert nodes["maas-region.lab.kubesalt.test"] == {
        "roles": ["maas_db", "maas_region"],
        "private_ip": "10.1.0.30",
    }
    assert nodes["maas-rack-1.lab.kubesalt.test"]["roles"] == ["maas_rack"]
    assert "10.1.0.31\tmaas-rack-0.lab.kubesalt.test maas-rack-0" in topology.etc_hosts(
        list(hosts.values())
    )
    # Without --maas the lab is unchanged.
    assert not any(name.startswith("maas") for name in _by_name(topology.build_hosts()))


def test_bare_metal_machines_are_powered_off_and_not_in_the_inventory():
    hosts = _by_name(topology.build_hosts(workers=0, maas=True, bare_metal=2))
    machines = [h for h in hosts.values() if h.bare_metal]
    assert [(h.name, h.private_ip, h.roles) for h in machines] == [
        ("k8s-bm-0", "10.1.0.120", ("maas_machine",)),
        ("k8s-bm-1", "10.1.0.121", ("maas_machine",)),
    ]
    assert not any(h.runs_salt for h in machines)
    # orch.baremetal adds them to the inventory once MAAS has deployed them.
    nodes = topology.inventory(list(hosts.values()))["kubesalt"]["nodes"]
    assert not any(node.startswith("k8s-bm") for node in nodes)
    assert "k8s-bm-0.lab.kubesalt.test" in topology.etc_hosts(list(hosts.values()))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bare_metal": 1}, "--bare-metal needs --maas"),
        ({"bare_metal": -1, "maas": True}, "--bare-metal must be between 0 and 20"),
        ({"bare_metal": 21, "maas": True}, "--bare-metal must be between 0 and 20"),
    ],
)
def test_bad_bare_metal_counts_name_the_option(kwargs, message):
    with pytest.raises(topology.TopologyError, match=message):
        topology.build_hosts(**kwargs)
