"""Octavia's apply-time rules in the lab cloud (kubesalt.cloud.octavia), through the provider's
create/delete as Terraform calls them, on an API-only cloud (no lab hosts)."""

import pytest

from kubesalt.cloud import octavia
from kubesalt.cloud.openstack import OpenStackProvider
from kubesalt.cloud.plugin import ProviderError
from kubesalt.cloud.store import Store


@pytest.fixture
def provider(tmp_path):
    with Store(tmp_path).transaction():
        pass
    provider = OpenStackProvider()
    provider.configure({"auth_url": f"kubesalt-lab://{tmp_path}"})
    return provider


@pytest.fixture
def net(provider):
    ids = {}
    for name, cidr in (("public", "10.0.0.0/16"), ("private", "10.1.0.0/16")):
        network = provider.create("openstack_networking_network_v2", {"name": name}, {})
        subnet = provider.create(
            "openstack_networking_subnet_v2",
            {
                "name": name,
                "network_id": network["id"],
                "cidr": cidr,
                "ip_version": 4,
                "allocation_pool": [
                    {
                        "start": cidr.replace("0.0/16", "200.0"),
                        "end": cidr.replace("0.0/16", "255.254"),
                    }
                ],
            },
            {},
        )
        ids[name] = subnet["id"]
    return ids


def _lb(provider, net, **extra):
    return provider.create(
        "openstack_lb_loadbalancer_v2",
        {"name": "api", "vip_subnet_id": net["public"], "vip_address": "10.0.0.30", **extra},
        {},
    )


def _stack(provider, net, members=("10.1.0.10", "10.1.0.11", "10.1.0.12")):
    lb = _lb(provider, net)
    listener = provider.create(
        "openstack_lb_listener_v2",
        {
            "loadbalancer_id": lb["id"],
            "protocol": "TCP",
            "protocol_port": 16443,
            "allowed_cidrs": ["203.0.113.0/24", "10.0.0.0/16"],
        },
        {},
    )
    pool = provider.create(
        "openstack_lb_pool_v2",
        {"listener_id": listener["id"], "protocol": "TCP", "lb_method": "ROUND_ROBIN"},
        {},
    )
    for address in members:
        provider.create(
            "openstack_lb_member_v2",
            {
                "pool_id": pool["id"],
                "address": address,
                "protocol_port": 16443,
                "subnet_id": net["private"],
            },
            {},
        )
    monitor = provider.create(
        "openstack_lb_monitor_v2",
        {"pool_id": pool["id"], "type": "TCP", "delay": 5, "timeout": 3, "max_retries": 2},
        {},
    )
    return lb, listener, pool, monitor


def test_vip_port_and_its_security_group(provider, net):
    lb, _, _, _ = _stack(provider, net)
    cloud = provider.store.read()
    port = cloud["ports"][lb["vip_port_id"]]
    assert lb["vip_address"] == "10.0.0.30" and lb["vip_subnet_id"] == net["public"]
    assert port["device_owner"] == "Octavia" and port["fixed_ips"][0]["ip_address"] == "10.0.0.30"
    (group,) = port["security_group_ids"]
    rules = [r for r in cloud["security_group_rules"].values() if r["security_group_id"] == group]
    assert sorted((r["port_range_min"], r["remote_ip_prefix"]) for r in rules) == [
        (16443, "10.0.0.0/16"),
        (16443, "203.0.113.0/24"),
    ]
    # the amphora is plugged into the members' subnet, from its pool
    (member_port,) = cloud["loadbalancers"][lb["id"]]["member_ports"].values()
    # (the first address of the pool is the subnet's DHCP port's)
    assert cloud["ports"][member_port]["fixed_ips"][0]["ip_address"] == "10.1.200.1"


def test_proxy_config_has_every_member_and_the_monitor(provider, net):
    lb, _, _, _ = _stack(provider, net)
    config = octavia.proxy_config(provider.store.read(), lb["id"])
    (listener,) = config["listeners"]
    assert listener["address"] == "10.0.0.30" and listener["port"] == 16443
    assert listener["members"] == [["10.1.0.10", 16443], ["10.1.0.11", 16443], ["10.1.0.12", 16443]]
    assert listener["monitor"] == {
        "type": "TCP",
        "delay": 5,
        "timeout": 3,
        "max_retries": 2,
        "max_retries_down": 3,
    }


@pytest.mark.parametrize(
    ("planned", "message"),
    [
        ({"vip_address": "10.1.0.30"}, "VIP address 10.1.0.30 is not in subnet"),
        ({"vip_subnet_id": "nope"}, "Subnet nope not found"),
    ],
)
def test_vip_must_be_on_its_subnet(provider, net, planned, message):
    with pytest.raises(ProviderError) as err:
        _lb(provider, net, **planned)
    assert message in err.value.detail
    assert provider.store.read()["loadbalancers"] == {}


def test_vip_address_already_allocated(provider, net):
    _lb(provider, net)
    with pytest.raises(ProviderError, match="Error creating OpenStack Neutron port") as err:
        _lb(provider, net)
    assert "10.0.0.30 already allocated" in err.value.detail


def test_member_rules(provider, net):
    _, _, pool, _ = _stack(provider, net, members=("10.1.0.10",))
    cases = [
        ({"address": "10.0.0.99"}, "is not in subnet"),
        ({"address": "10.1.0.10"}, "already using ip 10.1.0.10 on protocol_port 16443"),
        ({"address": "10.1.0.10.1"}, "not a valid IP address"),
        ({"subnet_id": "nope", "address": "10.1.0.11"}, "Subnet nope not found"),
        ({"subnet_id": net["public"], "address": "10.0.0.30"}, "is the load balancer's VIP"),
    ]
    for change, message in cases:
        planned = {
            "pool_id": pool["id"],
            "protocol_port": 16443,
            "subnet_id": net["private"],
            **change,
        }
        with pytest.raises(ProviderError) as err:
            provider.create("openstack_lb_member_v2", planned, {})
        assert message in err.value.detail, (change, err.value.detail)
    assert len(provider.store.read()["members"]) == 1


def test_listener_pool_and_monitor_rules(provider, net):
    lb, listener, pool, _ = _stack(provider, net, members=())
    with pytest.raises(ProviderError) as err:
        provider.create(
            "openstack_lb_listener_v2",
            {"loadbalancer_id": lb["id"], "protocol": "TCP", "protocol_port": 16443},
            {},
        )
    assert "already using protocol TCP and protocol_port 16443" in err.value.detail
    with pytest.raises(ProviderError) as err:
        provider.create(
            "openstack_lb_pool_v2",
            {"listener_id": listener["id"], "protocol": "UDP", "lb_method": "ROUND_ROBIN"},
            {},
        )
    assert "The pool protocol 'UDP' is invalid while the listener protocol is 'TCP'" in (
        err.value.detail
    )
    with pytest.raises(ProviderError) as err:
        provider.create(
            "openstack_lb_pool_v2",
            {"listener_id": listener["id"], "protocol": "TCP", "lb_method": "ROUND_ROBIN"},
            {},
        )
    assert "already has default pool" in err.value.detail
    with pytest.raises(ProviderError) as err:
        provider.create(
            "openstack_lb_monitor_v2",
            {"pool_id": pool["id"], "type": "TCP", "delay": 5, "timeout": 3, "max_retries": 2},
            {},
        )
    assert "already has a health monitor" in err.value.detail


def test_monitor_timeout_not_above_delay(provider, net):
    lb = _lb(provider, net)
    pool = provider.create(
        "openstack_lb_pool_v2",
        {"loadbalancer_id": lb["id"], "protocol": "TCP", "lb_method": "ROUND_ROBIN"},
        {},
    )
    with pytest.raises(ProviderError) as err:
        provider.create(
            "openstack_lb_monitor_v2",
            {"pool_id": pool["id"], "type": "TCP", "delay": 3, "timeout": 5, "max_retries": 2},
            {},
        )
    assert "timeout must be less than or equal to its delay" in err.value.detail


def test_a_load_balancer_that_is_not_active_is_immutable(provider, net):
    lb = _lb(provider, net)
    with provider.store.transaction() as cloud:
        cloud["loadbalancers"][lb["id"]]["provisioning_status"] = "PENDING_UPDATE"
    with pytest.raises(ProviderError) as err:
        provider.create(
            "openstack_lb_listener_v2",
            {"loadbalancer_id": lb["id"], "protocol": "TCP", "protocol_port": 16443},
            {},
        )
    assert f"Load Balancer {lb['id']} is immutable and cannot be updated. (HTTP 409)" in (
        err.value.detail
    )


def test_the_amphora_leaves_a_subnet_with_its_last_member(provider, net):
    lb, _, pool, _ = _stack(provider, net, members=("10.1.0.10", "10.1.0.11"))
    members = [m for m in provider.store.read()["members"].values()]
    provider.delete("openstack_lb_member_v2", members[0])
    assert provider.store.read()["loadbalancers"][lb["id"]]["member_ports"]
    provider.delete("openstack_lb_member_v2", members[1])
    cloud = provider.store.read()
    assert cloud["loadbalancers"][lb["id"]]["member_ports"] == {}
    assert [p["name"] for p in cloud["ports"].values()] == [f"octavia-lb-{lb['id']}"]
    # and the private subnet can go
    provider.delete("openstack_networking_subnet_v2", cloud["subnets"][net["private"]])
    assert pool["id"] in provider.store.read()["pools"]


def test_delete_order(provider, net):
    lb, listener, pool, monitor = _stack(provider, net)
    with pytest.raises(ProviderError) as err:
        provider.delete("openstack_lb_loadbalancer_v2", lb)
    assert "it has children" in err.value.detail
    for type_name, state in (
        ("openstack_lb_monitor_v2", monitor),
        ("openstack_lb_pool_v2", pool),
        ("openstack_lb_listener_v2", listener),
        ("openstack_lb_loadbalancer_v2", lb),
    ):
        provider.delete(type_name, state)
    cloud = provider.store.read()
    assert all(cloud[table] == {} for table in octavia.TABLES)
    assert cloud["ports"] == {}  # the VIP and member-side ports went with the load balancer
    assert not any(g["name"].startswith("lb-") for g in cloud["security_groups"].values())
