"""Octavia (``openstack_lb_*_v2``) for the lab cloud: the API rules, and what the amphora runs.

:class:`Octavia` is the part of :class:`kubesalt.cloud.openstack.OpenStackProvider` that
creates and deletes load balancers, listeners, pools, members and health monitors with the
rules the provider and Octavia's API apply at apply time:

* a load balancer's VIP is on a subnet (``vip_subnet_id``, else the first subnet of
  ``vip_network_id``, else the fixed IP of ``vip_port_id``); a requested ``vip_address`` must be
  inside that subnet and free. Octavia makes the VIP port (``octavia-lb-<id>``, device owner
  ``Octavia``) and a security group of its own on it (``lb-<id>``) that opens each listener's
  port to its ``allowed_cidrs`` (every source when empty);
* every child (listener, pool, member, monitor) changes the load balancer, which must be
  ``ACTIVE`` (409 ``... is immutable and cannot be updated.`` otherwise); the provider waits for
  ``ACTIVE`` after each call, and the lab answers at once;
* a listener's protocol and port are unique on its load balancer; a pool's protocol must suit
  its listener's; a listener has one default pool; a member's ``subnet_id`` must exist and its
  address be inside it (the amphora is plugged into that subnet: a port ``octavia-lb-<id>-
  member-<subnet>`` from the subnet's pool); a member's address and port are unique in its
  pool and may not be the VIP; a pool has at most one health monitor, whose type suits the
  pool's protocol and whose ``timeout`` is not above its ``delay``;
* deleting a load balancer that still has listeners or pools is refused (no cascade: the
  provider sends none); a pool's members and monitor go with it, as in Octavia; the amphora
  leaves a member subnet when its last member there goes (so the subnet can be deleted).

The data plane is :mod:`kubesalt.cloud.lbproxy`, started by the backing daemon
(:mod:`kubesalt.cloud.instances`) in a network namespace of its own holding the VIP and the
member-side ports: :func:`proxy_config` is what it is told.
"""

from __future__ import annotations

import ipaddress
import uuid

from kubesalt.cloud import catalogue
from kubesalt.cloud.plugin import ProviderError

# Octavia's constants.VALID_LISTENER_POOL_PROTOCOL_MAP
LISTENER_POOL_PROTOCOLS = {
    "TCP": {"HTTP", "HTTPS", "PROXY", "PROXYV2", "TCP"},
    "HTTP": {"HTTP", "PROXY", "PROXYV2"},
    "HTTPS": {"HTTPS", "PROXY", "PROXYV2", "TCP"},
    "TERMINATED_HTTPS": {"HTTP", "PROXY", "PROXYV2"},
    "UDP": {"UDP"},
    "SCTP": {"SCTP"},
    "PROMETHEUS": set(),
}
# Octavia's health monitor types each pool protocol accepts
MONITOR_TYPES = {
    "UDP": {"UDP-CONNECT", "HTTP", "TCP"},
    "SCTP": {"SCTP", "HTTP", "TCP", "UDP-CONNECT"},
}
TABLES = ("loadbalancers", "listeners", "pools", "members", "monitors")


def _error(action: str, detail: str) -> ProviderError:
    return ProviderError(f"Error creating openstack_lb_{action}_v2", detail)


def _missing(action: str, kind: str, ident: str) -> ProviderError:
    return _error(action, f"{kind} {ident} not found. (HTTP 404)")


def _active(cloud: dict, action: str, lb_id: str) -> dict:
    lb = cloud["loadbalancers"].get(lb_id)
    if lb is None:
        raise _missing(action, "Load Balancer", lb_id)
    if lb["provisioning_status"] != "ACTIVE":
        raise _error(
            action, f"Load Balancer {lb_id} is immutable and cannot be updated. (HTTP 409)"
        )
    return lb


def _taken(table: dict, **match) -> bool:
    """Whether a record of ``table`` has every value of ``match``."""
    return any(all(row[key] == value for key, value in match.items()) for row in table.values())


def _common(ident: str) -> dict:
    return {"id": ident, "region": catalogue.REGION, "tenant_id": catalogue.PROJECT_ID}


class Octavia:
    """Mixed into the OpenStack provider (uses its Neutron helpers ``_allocate`` and
    ``_check_free``)."""

    # --- load balancers -------------------------------------------------------------------
    def _vip_subnet(self, cloud, planned) -> tuple[dict, str | None]:
        if planned.get("vip_port_id"):
            port = cloud["ports"].get(planned["vip_port_id"])
            if port is None:
                raise _missing("loadbalancer", "Port", planned["vip_port_id"])
            fixed = port["fixed_ips"][0]
            return cloud["subnets"][fixed["subnet_id"]], fixed["ip_address"]
        if planned.get("vip_subnet_id"):
            subnet = cloud["subnets"].get(planned["vip_subnet_id"])
            if subnet is None:
                raise _missing("loadbalancer", "Subnet", planned["vip_subnet_id"])
            return subnet, None
        network = cloud["networks"].get(planned.get("vip_network_id") or "")
        if network is None or not network["subnets"]:
            raise _error(
                "loadbalancer",
                f"Validation failure: Supplied network {planned.get('vip_network_id')} has no "
                "subnet. (HTTP 400)",
            )
        return cloud["subnets"][network["subnets"][0]], None

    def _create_lb_loadbalancer_v2(self, cloud, planned, config) -> dict:
        subnet, port_address = self._vip_subnet(cloud, planned)
        address = planned.get("vip_address") or port_address
        if address and ipaddress.ip_address(address) not in ipaddress.ip_network(subnet["cidr"]):
            raise _error(
                "loadbalancer",
                f"Validation failure: VIP address {address} is not in subnet {subnet['id']}. "
                "(HTTP 400)",
            )
        ident = str(uuid.uuid4())
        group = self._vip_security_group(cloud, ident)
        if planned.get("vip_port_id"):
            port_id = planned["vip_port_id"]
        else:
            if address:
                self._check_free(cloud, subnet, address)
            else:
                address = self._allocate(cloud, subnet)
            port_id = self._octavia_port(
                cloud, f"octavia-lb-{ident}", ident, subnet, address, groups=[group]
            )
        cloud["loadbalancers"][ident] = {
            "id": ident,
            "name": planned.get("name") or "",
            "vip_address": address,
            "vip_port_id": port_id,
            "vip_subnet_id": subnet["id"],
            "vip_network_id": subnet["network_id"],
            "security_group_id": group,
            "member_ports": {},  # subnet id -> the amphora's port there
            "provisioning_status": "ACTIVE",
            "operating_status": "ONLINE",
        }
        return {
            **_common(ident),
            "vip_address": address,
            "vip_port_id": port_id,
            "vip_subnet_id": subnet["id"],
            "vip_network_id": subnet["network_id"],
            "loadbalancer_provider": "amphora",
            "flavor_id": "",
            "security_group_ids": [],
        }

    def _vip_security_group(self, cloud, lb_id: str) -> str:
        ident = str(uuid.uuid4())
        cloud["security_groups"][ident] = {"id": ident, "name": f"lb-{lb_id}", "stateful": True}
        return ident

    def _octavia_port(self, cloud, name, lb_id, subnet, address, *, groups) -> str:
        ident = str(uuid.uuid4())
        cloud["ports"][ident] = {
            "id": ident,
            "name": name,
            "network_id": subnet["network_id"],
            "fixed_ips": [{"subnet_id": subnet["id"], "ip_address": address}],
            "mac_address": self._new_mac(),
            "device_owner": "Octavia",
            "device_id": f"lb-{lb_id}",
            "security_group_ids": groups,
            "port_security_enabled": bool(groups),
            "allowed_address_pairs": [],
        }
        return ident

    def _delete_lb_loadbalancer_v2(self, cloud, record) -> None:
        children = [
            f"{kind[:-1]} {child['id']}"
            for kind in ("listeners", "pools")
            for child in cloud[kind].values()
            if child["loadbalancer_id"] == record["id"]
        ]
        if children:
            raise ProviderError(
                "Error deleting openstack_lb_loadbalancer_v2",
                f"Cannot delete Load Balancer {record['id']} - it has children (HTTP 400): "
                + ", ".join(sorted(children)),
            )
        ports = [record["vip_port_id"], *record["member_ports"].values()]
        for port_id in ports:
            if cloud["ports"].get(port_id, {}).get("device_owner") == "Octavia":
                self._delete_networking_port_v2(cloud, cloud["ports"][port_id])
                del cloud["ports"][port_id]
        cloud["security_groups"].pop(record["security_group_id"], None)
        for rule_id, rule in list(cloud["security_group_rules"].items()):
            if rule["security_group_id"] == record["security_group_id"]:
                del cloud["security_group_rules"][rule_id]

    # --- listeners ------------------------------------------------------------------------
    def _create_lb_listener_v2(self, cloud, planned, config) -> dict:
        lb = _active(cloud, "listener", planned["loadbalancer_id"])
        protocol, port = planned["protocol"], int(planned["protocol_port"])
        if _taken(cloud["listeners"], loadbalancer_id=lb["id"], protocol=protocol, port=port):
            raise _error(
                "listener",
                "Another Listener on this Load Balancer is already using protocol "
                f"{protocol} and protocol_port {port} (HTTP 409)",
            )
        cidrs = []
        for cidr in planned.get("allowed_cidrs") or []:
            try:
                cidrs.append(str(ipaddress.ip_network(cidr, strict=False)))
            except ValueError:
                raise _error(
                    "listener", f"Validation failure: {cidr} is not a valid CIDR. (HTTP 400)"
                ) from None
        ident = str(uuid.uuid4())
        cloud["listeners"][ident] = {
            "id": ident,
            "loadbalancer_id": lb["id"],
            "protocol": protocol,
            "port": port,
            "allowed_cidrs": cidrs,
            "default_pool_id": "",
        }
        self._open_vip(cloud, lb)
        return {**_common(ident), "default_pool_id": "", "allowed_cidrs": cidrs}

    def _open_vip(self, cloud, lb: dict) -> None:
        """The VIP port's group: each listener's port from its allowed CIDRs (Octavia's
        amphora driver keeps these rules in step with the listeners)."""
        group = lb["security_group_id"]
        for rule_id, rule in list(cloud["security_group_rules"].items()):
            if rule["security_group_id"] == group:
                del cloud["security_group_rules"][rule_id]
        for listener in cloud["listeners"].values():
            if listener["loadbalancer_id"] != lb["id"]:
                continue
            protocol = "udp" if listener["protocol"] == "UDP" else "tcp"
            for cidr in listener["allowed_cidrs"] or ["0.0.0.0/0"]:
                rule_id = str(uuid.uuid4())
                cloud["security_group_rules"][rule_id] = {
                    "id": rule_id,
                    "security_group_id": group,
                    "direction": "ingress",
                    "ethertype": "IPv4",
                    "protocol": protocol,
                    "port_range_min": listener["port"],
                    "port_range_max": listener["port"],
                    "remote_ip_prefix": cidr,
                    "remote_group_id": None,
                }

    def _delete_lb_listener_v2(self, cloud, record) -> None:
        lb = cloud["loadbalancers"][record["loadbalancer_id"]]
        cloud["listeners"].pop(record["id"])
        for pool in cloud["pools"].values():
            if pool.get("listener_id") == record["id"]:
                pool["listener_id"] = ""
        self._open_vip(cloud, lb)

    # --- pools ----------------------------------------------------------------------------
    def _create_lb_pool_v2(self, cloud, planned, config) -> dict:
        listener = None
        if planned.get("listener_id"):
            listener = cloud["listeners"].get(planned["listener_id"])
            if listener is None:
                raise _missing("pool", "Listener", planned["listener_id"])
            lb_id = listener["loadbalancer_id"]
        else:
            lb_id = planned["loadbalancer_id"]
        lb = _active(cloud, "pool", lb_id)
        protocol = planned["protocol"]
        if listener is not None:
            if protocol not in LISTENER_POOL_PROTOCOLS[listener["protocol"]]:
                raise _error(
                    "pool",
                    f"Validation failure: The pool protocol '{protocol}' is invalid while the "
                    f"listener protocol is '{listener['protocol']}'. (HTTP 400)",
                )
            if listener["default_pool_id"]:
                raise _error(
                    "pool",
                    f"Listener {listener['id']} already has default pool "
                    f"{listener['default_pool_id']}. (HTTP 409)",
                )
        ident = str(uuid.uuid4())
        cloud["pools"][ident] = {
            "id": ident,
            "loadbalancer_id": lb["id"],
            "listener_id": listener["id"] if listener else "",
            "protocol": protocol,
            "lb_method": planned["lb_method"],
        }
        if listener is not None:
            listener["default_pool_id"] = ident
        return {**_common(ident), "listener_id": planned.get("listener_id") or ""}

    def _delete_lb_pool_v2(self, cloud, record) -> None:
        # Octavia deletes a pool's members and health monitor with it
        for table in ("members", "monitors"):
            for child_id, child in list(cloud[table].items()):
                if child["pool_id"] == record["id"]:
                    del cloud[table][child_id]
        for listener in cloud["listeners"].values():
            if listener["default_pool_id"] == record["id"]:
                listener["default_pool_id"] = ""
        cloud["pools"].pop(record["id"])
        self._unplug(cloud, cloud["loadbalancers"][record["loadbalancer_id"]])

    def _unplug(self, cloud, lb: dict) -> None:
        """The amphora leaves a member subnet once no member of the load balancer is on it
        (Octavia's network delta), so that subnet can be deleted."""
        pools = {p["id"] for p in cloud["pools"].values() if p["loadbalancer_id"] == lb["id"]}
        used = {m["subnet_id"] for m in cloud["members"].values() if m["pool_id"] in pools}
        for subnet_id, port_id in list(lb["member_ports"].items()):
            if subnet_id not in used:
                cloud["ports"].pop(port_id, None)
                del lb["member_ports"][subnet_id]

    # --- members --------------------------------------------------------------------------
    def _create_lb_member_v2(self, cloud, planned, config) -> dict:
        pool = cloud["pools"].get(planned["pool_id"])
        if pool is None:
            raise _missing("member", "Pool", planned["pool_id"])
        lb = _active(cloud, "member", pool["loadbalancer_id"])
        address, port = planned["address"], int(planned["protocol_port"])
        try:
            member_ip = ipaddress.ip_address(address)
        except ValueError:
            raise _error(
                "member", f"Validation failure: {address} is not a valid IP address. (HTTP 400)"
            ) from None
        subnet_id = planned.get("subnet_id") or lb["vip_subnet_id"]
        subnet = cloud["subnets"].get(subnet_id)
        if subnet is None:
            raise _error("member", f"Validation failure: Subnet {subnet_id} not found. (HTTP 400)")
        if member_ip not in ipaddress.ip_network(subnet["cidr"]):
            raise _error(
                "member",
                f"Validation failure: Member address {address} is not in subnet {subnet_id}. "
                "(HTTP 400)",
            )
        if address == lb["vip_address"]:
            raise _error(
                "member",
                f"Validation failure: Member address {address} is the load balancer's VIP. "
                "(HTTP 400)",
            )
        if _taken(cloud["members"], pool_id=pool["id"], address=address, port=port):
            raise _error(
                "member",
                f"Another member on this pool is already using ip {address} on "
                f"protocol_port {port} (HTTP 409)",
            )
        if subnet_id != lb["vip_subnet_id"] and subnet_id not in lb["member_ports"]:
            # the amphora is plugged into the member's subnet
            lb["member_ports"][subnet_id] = self._octavia_port(
                cloud,
                f"octavia-lb-{lb['id']}-member-{subnet_id}",
                lb["id"],
                subnet,
                self._allocate(cloud, subnet),
                groups=[],
            )
        ident = str(uuid.uuid4())
        cloud["members"][ident] = {
            "id": ident,
            "pool_id": pool["id"],
            "address": address,
            "port": port,
            "subnet_id": subnet_id,
            "admin_state_up": planned.get("admin_state_up") is not False,
            "weight": planned.get("weight") if planned.get("weight") is not None else 1,
        }
        return {**_common(ident), "weight": cloud["members"][ident]["weight"]}

    def _delete_lb_member_v2(self, cloud, record) -> None:
        pool = cloud["pools"][record["pool_id"]]
        cloud["members"].pop(record["id"])
        self._unplug(cloud, cloud["loadbalancers"][pool["loadbalancer_id"]])

    def _update_lb_member_v2(self, cloud, record, prior, planned) -> dict:
        _active(cloud, "member", cloud["pools"][record["pool_id"]]["loadbalancer_id"])
        record["admin_state_up"] = planned.get("admin_state_up") is not False
        if planned.get("weight") is not None:
            record["weight"] = planned["weight"]
        return {"weight": record["weight"]}

    # --- health monitors ------------------------------------------------------------------
    def _create_lb_monitor_v2(self, cloud, planned, config) -> dict:
        pool = cloud["pools"].get(planned["pool_id"])
        if pool is None:
            raise _missing("monitor", "Pool", planned["pool_id"])
        _active(cloud, "monitor", pool["loadbalancer_id"])
        if _taken(cloud["monitors"], pool_id=pool["id"]):
            raise _error("monitor", "This pool already has a health monitor (HTTP 409)")
        kind = planned["type"]
        allowed = MONITOR_TYPES.get(pool["protocol"], {"HTTP", "HTTPS", "PING", "TCP", "TLS-HELLO"})
        if kind not in allowed:
            raise _error(
                "monitor",
                f"Validation failure: The associated pool protocol is {pool['protocol']} and "
                f"the health monitor type {kind} is not supported. (HTTP 400)",
            )
        delay, timeout = int(planned["delay"]), int(planned["timeout"])
        if timeout > delay:
            raise _error(
                "monitor",
                "Validation failure: The health monitor timeout must be less than or equal to "
                "its delay. (HTTP 400)",
            )
        retries = int(planned["max_retries"])
        retries_down = planned.get("max_retries_down")
        ident = str(uuid.uuid4())
        cloud["monitors"][ident] = {
            "id": ident,
            "pool_id": pool["id"],
            "type": kind,
            "delay": delay,
            "timeout": timeout,
            "max_retries": retries,
            "max_retries_down": int(retries_down) if retries_down else 3,
        }
        return {**_common(ident), "max_retries_down": cloud["monitors"][ident]["max_retries_down"]}


def proxy_config(cloud: dict, lb_id: str) -> dict:
    """What :mod:`kubesalt.cloud.lbproxy` serves for load balancer ``lb_id``: each listener
    with its allowed CIDRs, its default pool's enabled members and the pool's monitor."""
    lb = cloud["loadbalancers"][lb_id]
    listeners = []
    for listener in sorted(cloud["listeners"].values(), key=lambda item: item["port"]):
        if listener["loadbalancer_id"] != lb_id or listener["protocol"] != "TCP":
            continue
        pool_id = listener["default_pool_id"]
        members = sorted(
            [m["address"], m["port"]]
            for m in cloud["members"].values()
            if m["pool_id"] == pool_id and pool_id and m["admin_state_up"] and m["weight"] > 0
        )
        monitor = next((m for m in cloud["monitors"].values() if m["pool_id"] == pool_id), None)
        listeners.append(
            {
                "address": lb["vip_address"],
                "port": listener["port"],
                "allowed_cidrs": listener["allowed_cidrs"],
                "members": members,
                "monitor": None
                if monitor is None
                else {
                    key: monitor[key]
                    for key in ("type", "delay", "timeout", "max_retries", "max_retries_down")
                },
            }
        )
    return {"loadbalancer": lb_id, "listeners": listeners}
