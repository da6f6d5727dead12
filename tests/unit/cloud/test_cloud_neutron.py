"""Neutron's filtering semantics (kubesalt.cloud.neutron) on small clouds from YAML cases."""

import pytest

from kubesalt.cloud import neutron
from tests.support.cases import load_cases


def _cloud(case) -> dict:
    cloud = {"ports": {}, "security_groups": {}, "security_group_rules": {}}
    for name, spec in case["groups"].items():
        rules = spec if isinstance(spec, list) else spec.get("rules", [])
        cloud["security_groups"][name] = {"id": name, "name": name}
        if not (isinstance(spec, dict) and spec.get("no_default_egress")):
            for ethertype in ("IPv4", "IPv6"):
                rule_id = f"{name}-egress-{ethertype}"
                cloud["security_group_rules"][rule_id] = {
                    "id": rule_id,
                    "security_group_id": name,
                    "direction": "egress",
                    "ethertype": ethertype,
                }
        for index, rule in enumerate(rules):
            rule_id = f"{name}-{index}"
            cloud["security_group_rules"][rule_id] = {
                "id": rule_id,
                "security_group_id": name,
                "direction": rule["direction"],
                "ethertype": "IPv4",
                "protocol": rule.get("protocol"),
                "port_range_min": rule.get("port"),
                "port_range_max": rule.get("port_max", rule.get("port")),
                "remote_ip_prefix": rule.get("remote_prefix"),
                "remote_group_id": rule.get("remote_group"),
            }
    for name, spec in case["ports"].items():
        cloud["ports"][name] = {
            "id": name,
            "fixed_ips": [{"subnet_id": "s", "ip_address": ip} for ip in spec["ips"]],
            "security_group_ids": spec["groups"],
            "allowed_address_pairs": [{"ip_address": p} for p in spec.get("pairs", [])],
            "port_security_enabled": spec.get("security", True),
        }
    return cloud


@pytest.mark.parametrize("case", load_cases(__file__, "neutron"))
def test_filtering(case):
    cloud = _cloud(case)
    for check in case["checks"]:
        direction, port, protocol, number, remote, expected = check[:6]
        if direction == "ingress":
            got = neutron.ingress_allowed(cloud, port, protocol, number, remote)
        else:
            source = (
                check[6] if len(check) > 6 else cloud["ports"][port]["fixed_ips"][0]["ip_address"]
            )
            got = neutron.egress_allowed(cloud, port, protocol, number, remote, source=source)
        assert got is expected, (
            f"{check}: {neutron.why_allowed(cloud, port, protocol, number, remote)}"
        )


def test_firewall_chains_follow_the_rules():
    from kubesalt.cloud import firewall

    case = {
        "groups": {
            "host": [
                {"direction": "ingress", "protocol": "tcp", "port": 22, "remote_group": "bastion"}
            ],
            "bastion": [],
        },
        "ports": {
            "salt-port": {"ips": ["10.1.0.5"], "groups": ["host"]},
            "gw-port": {"ips": ["10.1.0.1"], "groups": ["bastion"], "pairs": ["0.0.0.0/0"]},
            "open-port": {"ips": ["10.1.0.9"], "groups": [], "security": False},
        },
    }
    rules = firewall.iptables_restore(
        _cloud(case), {"salt-port": "tap0", "gw-port": "tap1", "open-port": "tap2"}
    )
    lines = rules.splitlines()
    assert lines[0] == "*filter" and lines[-1] == "COMMIT"
    assert "-A FORWARD -m physdev --physdev-out tap0 --physdev-is-bridged -j ksi-saltport" in lines
    # the remote group expands to the bastion's fixed IP and its pair
    assert "-A ksi-saltport -p tcp --dport 22 -s 10.1.0.1/32 -j RETURN" in lines
    assert "-A ksi-saltport -p tcp --dport 22 -s 0.0.0.0/0 -j RETURN" in lines
    assert "-A kss-saltport -s 10.1.0.5/32 -j RETURN" in lines
    assert "-A kss-gwport -s 0.0.0.0/0 -j RETURN" in lines
    assert "-A kso-saltport -j RETURN" in lines  # default egress: any
    assert not any("tap2" in line for line in lines)  # no port security: no chain
