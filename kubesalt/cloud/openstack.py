"""``terraform-provider-openstack/openstack`` for the lab cloud.

The resources and data sources the root module uses, with the real provider's schema
(``data/openstack-schema.json``, generated from v3.4.0) and the rules the real provider and
OpenStack apply at apply time: the instance's image rule, flavors and images by name, a port's
fixed IP inside its subnet and not already allocated, allowed address pairs only with port
security, security groups that exist, a router gateway only on an external network, a
floating IP from a pool network, volumes attached at boot and kept when
``delete_on_termination`` is false, ``409 in use`` on deleting what is still used.

The API state lives in the lab cloud's directory (:class:`kubesalt.cloud.store.Store`), named
by ``auth_url = "kubesalt-lab://<dir>"`` of the cloud in ``clouds.yaml`` (``OS_CLOUD``,
``cloud = ...``) or by ``OS_AUTH_URL``.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import pathlib
import random
import uuid

import yaml

from kubesalt.cloud import catalogue
from kubesalt.cloud.octavia import Octavia
from kubesalt.cloud.plugin import ProviderError
from kubesalt.cloud.provider import Base
from kubesalt.cloud.provider import known
from kubesalt.cloud.provider import settle
from kubesalt.cloud.store import Store
from kubesalt.cloud.values import UNKNOWN

AUTH_SCHEME = "kubesalt-lab://"


def clouds_yaml_paths() -> list[pathlib.Path]:
    """Where openstacksdk (and the provider's auth package) look for clouds.yaml, in order."""
    paths = []
    if os.environ.get("OS_CLIENT_CONFIG_FILE"):
        paths.append(pathlib.Path(os.environ["OS_CLIENT_CONFIG_FILE"]))
    paths += [
        pathlib.Path.cwd() / "clouds.yaml",
        pathlib.Path.home() / ".config/openstack/clouds.yaml",
        pathlib.Path("/etc/openstack/clouds.yaml"),
    ]
    return paths


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _mac() -> str:
    # Neutron's default base_mac fa:16:3e:00:00:00
    return "fa:16:3e:" + ":".join(f"{random.randint(0, 255):02x}" for _ in range(3))  # noqa: S311


def _not_found(kind: str, ident: str) -> ProviderError:
    return ProviderError(f"Resource not found: {kind} {ident} could not be found", "(HTTP 404)")


class OpenStackProvider(Octavia, Base):
    name = "openstack"
    schema_file = "openstack"
    _new_mac = staticmethod(_mac)

    def __init__(self):
        super().__init__()
        self.store: Store | None = None
        pool = self.schemas["resources"]["openstack_networking_floatingip_v2"]["block"][
            "attributes"
        ]["pool"]
        # Required with EnvDefaultFunc("OS_POOL_NAME"): optional while the variable is set (SDK).
        if os.environ.get("OS_POOL_NAME"):
            pool.pop("required", None)
            pool["optional"] = True

    # --- provider configuration -----------------------------------------------------------
    def configure(self, config: dict) -> None:
        auth_url = config.get("auth_url") or os.environ.get("OS_AUTH_URL") or ""
        cloud = config.get("cloud") or os.environ.get("OS_CLOUD") or ""
        if cloud and not auth_url:
            for path in clouds_yaml_paths():
                if path.is_file():
                    clouds = (yaml.safe_load(path.read_text()) or {}).get("clouds") or {}
                    if cloud in clouds:
                        auth_url = ((clouds[cloud] or {}).get("auth") or {}).get("auth_url") or ""
                        break
            else:
                raise ProviderError(
                    "Error configuring the OpenStack provider",
                    f"cloud {cloud!r} not found in clouds.yaml (looked in "
                    f"{', '.join(str(p) for p in clouds_yaml_paths())})",
                )
        if not auth_url:
            raise ProviderError(
                "Error configuring the OpenStack provider",
                "One of 'auth_url' or 'cloud' must be specified",
            )
        if not auth_url.startswith(AUTH_SCHEME):
            raise ProviderError(
                "Error configuring the OpenStack provider",
                f"this is the kubesalt lab cloud's provider: auth_url must be "
                f"{AUTH_SCHEME}<directory> (got {auth_url!r}); run `eval $(kubesalt cloud env)`",
            )
        directory = auth_url[len(AUTH_SCHEME) :]
        self.store = Store(directory)
        if not self.store.exists():
            raise ProviderError(
                "Error configuring the OpenStack provider",
                f"no lab cloud at {directory}: run `kubesalt cloud up` first",
            )

    def _store(self) -> Store:
        if self.store is None:
            raise ProviderError("the OpenStack provider is not configured")
        return self.store

    # --- plan-time checks -------------------------------------------------------------------
    def plan_check(self, type_name: str, planned: dict, prior: dict | None) -> None:
        if type_name == "openstack_compute_instance_v2" and prior is None:
            self._check_block_devices(planned)

    @staticmethod
    def _check_block_devices(planned: dict) -> None:
        """checkBlockDeviceConfig of the provider, in its order."""
        for device in planned.get("block_device") or []:
            if device is UNKNOWN:
                continue
            if device.get("source_type") not in ("blank", "image", "snapshot", "volume", UNKNOWN):
                raise ProviderError(
                    f"unknown block_device source_type {device.get('source_type')!r}"
                )
            if device.get("source_type") != "blank" and device.get("uuid") in (None, ""):
                raise ProviderError(
                    f"You must specify a uuid for {device.get('source_type')} block device types"
                )
            if (device.get("source_type"), device.get("destination_type")) == (
                "image",
                "volume",
            ) and not device.get("volume_size"):
                raise ProviderError(
                    "You must specify a volume_size when creating a volume from an image"
                )
            if (device.get("source_type"), device.get("destination_type")) == (
                "blank",
                "local",
            ) and not device.get("volume_size"):
                raise ProviderError(
                    "You must specify a volume_size when creating a blank block device"
                )

    # --- dispatch ---------------------------------------------------------------------------
    def _block(self, type_name: str) -> dict:
        return self.schemas["resources"][type_name]["block"]

    def create(self, type_name: str, planned: dict, config: dict) -> dict:
        short = type_name.removeprefix("openstack_")
        with self._store().transaction() as cloud:
            view = getattr(self, f"_create_{short}")(cloud, known(planned), known(config))
        self._backing(view["id"] if type_name == "openstack_compute_instance_v2" else None)
        return settle(self._block(type_name), planned, view)

    def _backing(self, server_id: str | None = None) -> None:
        """Let a backed cloud's lab hosts and networks catch up (kubesalt.cloud.instances);
        an instance is ACTIVE once its host runs."""
        directory = self._store().directory
        if not (directory / "backed").is_file():
            return  # an API-only cloud
        from kubesalt.cloud import instances  # noqa: PLC0415 (imports the lab: only when backed)

        try:
            status = instances.notify(directory, wait_for=server_id)
        except RuntimeError as exc:
            raise ProviderError("Error waiting for the lab cloud", str(exc)) from None
        if server_id and status.get("state") == "ERROR":
            raise ProviderError(
                f"Error waiting for instance ({server_id}) to become ready", status["error"]
            )

    def read(self, type_name: str, state: dict) -> dict | None:
        table, _ = _TABLES[type_name]
        cloud = self._store().read()
        record = cloud[table].get(state.get("id") or "")
        if record is None:
            return None  # gone: Terraform plans to create it again
        return state

    def update(self, type_name: str, prior: dict, planned: dict, config: dict) -> dict:
        table, _ = _TABLES[type_name]
        with self._store().transaction() as cloud:
            record = cloud[table].get(prior["id"])
            if record is None:
                raise _not_found(table, prior["id"])
            updater = getattr(self, f"_update_{type_name.removeprefix('openstack_')}", None)
            view = updater(cloud, record, prior, known(planned)) if updater else {}
            record["state"] = {
                **record.get("state", {}),
                **{k: v for k, v in planned.items() if v is not UNKNOWN},
            }
        self._backing()
        return settle(self._block(type_name), planned, {**prior, **view})

    def delete(self, type_name: str, prior: dict) -> None:
        table, _ = _TABLES[type_name]
        with self._store().transaction() as cloud:
            record = cloud[table].get(prior["id"])
            if record is None:
                return  # already gone (404 on delete is success for the provider)
            deleter = getattr(self, f"_delete_{type_name.removeprefix('openstack_')}", None)
            if deleter:
                deleter(cloud, record)
            cloud[table].pop(prior["id"], None)
        self._backing()

    # --- networks ----------------------------------------------------------------------------
    def _create_networking_network_v2(self, cloud, planned, config) -> dict:
        ident = str(uuid.uuid4())
        cloud["networks"][ident] = {
            "id": ident,
            "name": planned.get("name") or "",
            "external": bool(planned.get("external")),
            "admin_state_up": planned.get("admin_state_up") is not False,
            "port_security_enabled": planned.get("port_security_enabled") is not False,
            "mtu": planned.get("mtu") or 1442,
            "subnets": [],
            "managed": True,
        }
        return {
            "id": ident,
            "region": catalogue.REGION,
            "tenant_id": catalogue.PROJECT_ID,
            "admin_state_up": True,
            "shared": False,
            "external": False,
            "mtu": 1442,
            "port_security_enabled": True,
            "transparent_vlan": False,
        }

    def _delete_networking_network_v2(self, cloud, record) -> None:
        in_use = [
            p
            for p in cloud["ports"].values()
            if p["network_id"] == record["id"] and not p.get("router_id")
        ]
        if in_use or record["subnets"]:
            raise ProviderError(
                f"Error deleting openstack_networking_network_v2 {record['id']}",
                f"Unable to complete operation on network {record['id']}. There are one or more "
                "ports still "
                "in use on the network. (HTTP 409)",
            )

    def _create_networking_subnet_v2(self, cloud, planned, config) -> dict:
        network = cloud["networks"].get(planned["network_id"])
        if network is None:
            raise _not_found("network", planned["network_id"])
        cidr = ipaddress.ip_network(planned["cidr"], strict=True)
        gateway = planned.get("gateway_ip") or ("" if planned.get("no_gateway") else str(cidr[1]))
        if gateway and ipaddress.ip_address(gateway) not in cidr:
            raise ProviderError(
                "Error creating openstack_networking_subnet_v2",
                f"Invalid input for operation: Gateway IP {gateway} is not in subnet {cidr}. "
                "(HTTP 400)",
            )
        pools = planned.get("allocation_pool") or [{"start": str(cidr[2]), "end": str(cidr[-2])}]
        for pool in pools:
            start, end = ipaddress.ip_address(pool["start"]), ipaddress.ip_address(pool["end"])
            if start not in cidr or end not in cidr or start > end:
                raise ProviderError(
                    "Error creating openstack_networking_subnet_v2",
                    f"The allocation pool {pool['start']}-{pool['end']} spans beyond the subnet "
                    f"cidr {cidr}. (HTTP 400)",
                )
            if gateway and start <= ipaddress.ip_address(gateway) <= end:
                raise ProviderError(
                    "Error creating openstack_networking_subnet_v2",
                    f"Gateway ip {gateway} conflicts with allocation pool "
                    f"{pool['start']}-{pool['end']}. (HTTP 409)",
                )
        for other in cloud["subnets"].values():
            if other["network_id"] == network["id"] and ipaddress.ip_network(
                other["cidr"]
            ).overlaps(cidr):
                raise ProviderError(
                    "Error creating openstack_networking_subnet_v2",
                    f"Invalid input for operation: Requested subnet with cidr: {cidr} for network: "
                    f"{network['id']} overlaps with another subnet. (HTTP 400)",
                )
        ident = str(uuid.uuid4())
        dhcp = planned.get("enable_dhcp") is not False
        cloud["subnets"][ident] = {
            "id": ident,
            "name": planned.get("name") or "",
            "network_id": network["id"],
            "cidr": str(cidr),
            "gateway_ip": gateway,
            "allocation_pools": [{"start": p["start"], "end": p["end"]} for p in pools],
            "dns_nameservers": list(planned.get("dns_nameservers") or []),
            "ip_version": 4,
            "enable_dhcp": dhcp,
            # Neutron's DHCP port (dnsmasq, the subnet's resolver) takes the first address of
            # the pool when the subnet is made; the lab runs kubesalt.lab.dns there.
            "dhcp_address": pools[0]["start"] if dhcp else "",
            "managed": True,
        }
        network["subnets"].append(ident)
        return {
            "id": ident,
            "region": catalogue.REGION,
            "tenant_id": catalogue.PROJECT_ID,
            "gateway_ip": gateway,
            "allocation_pool": [{"start": p["start"], "end": p["end"]} for p in pools],
            "enable_dhcp": True,
            "dns_publish_fixed_ip": False,
        }

    def _delete_networking_subnet_v2(self, cloud, record) -> None:
        for port in cloud["ports"].values():
            if any(ip["subnet_id"] == record["id"] for ip in port["fixed_ips"]):
                raise ProviderError(
                    f"Error deleting openstack_networking_subnet_v2 {record['id']}",
                    f"Unable to complete operation on subnet {record['id']}: One or more ports "
                    "have an IP "
                    "allocation from this subnet. (HTTP 409)",
                )
        network = cloud["networks"].get(record["network_id"])
        if network and record["id"] in network["subnets"]:
            network["subnets"].remove(record["id"])

    # --- routers -------------------------------------------------------------------------------
    def _create_networking_router_v2(self, cloud, planned, config) -> dict:
        gateway_network = planned.get("external_network_id") or ""
        external_ips = []
        if gateway_network:
            network = cloud["networks"].get(gateway_network)
            if network is None:
                raise _not_found("network", gateway_network)
            if not network.get("external"):
                raise ProviderError(
                    "Error creating openstack_networking_router_v2",
                    f"Bad router request: Network {gateway_network} is not an external network. "
                    "(HTTP 400)",
                )
            subnet = cloud["subnets"][network["subnets"][0]]
            external_ips = [
                {"subnet_id": subnet["id"], "ip_address": self._allocate(cloud, subnet)}
            ]
        ident = str(uuid.uuid4())
        cloud["routers"][ident] = {
            "id": ident,
            "name": planned.get("name") or "",
            "external_network_id": gateway_network,
            "external_fixed_ips": external_ips,
            "enable_snat": bool(gateway_network),
            "interfaces": [],
        }
        return {
            "id": ident,
            "region": catalogue.REGION,
            "tenant_id": catalogue.PROJECT_ID,
            "admin_state_up": True,
            "distributed": False,
            "enable_snat": bool(gateway_network),
            "external_fixed_ip": external_ips,
            "external_subnet_ids": [],
        }

    def _delete_networking_router_v2(self, cloud, record) -> None:
        if record["interfaces"]:
            raise ProviderError(
                f"Error deleting openstack_networking_router_v2 {record['id']}",
                f"Router {record['id']} still has ports. (HTTP 409)",
            )

    def _create_networking_router_interface_v2(self, cloud, planned, config) -> dict:
        router = cloud["routers"].get(planned["router_id"])
        if router is None:
            raise _not_found("router", planned["router_id"])
        subnet = cloud["subnets"].get(planned.get("subnet_id") or "")
        if subnet is None:
            raise _not_found("subnet", planned.get("subnet_id") or "")
        if not subnet["gateway_ip"]:
            raise ProviderError(
                "Error creating openstack_networking_router_interface_v2",
                f"Bad router request: Subnet {subnet['id']} does not have a gateway IP. (HTTP 400)",
            )
        self._check_free(cloud, subnet, subnet["gateway_ip"])
        port_id = str(uuid.uuid4())
        cloud["ports"][port_id] = {
            "id": port_id,
            "name": "",
            "network_id": subnet["network_id"],
            "fixed_ips": [{"subnet_id": subnet["id"], "ip_address": subnet["gateway_ip"]}],
            "mac_address": _mac(),
            "device_owner": "network:router_interface",
            "device_id": router["id"],
            "router_id": router["id"],
            "security_group_ids": [],
            "port_security_enabled": False,
            "allowed_address_pairs": [],
        }
        ident = port_id  # the provider's id of an interface is its port's id
        router["interfaces"].append({"id": ident, "subnet_id": subnet["id"], "port_id": port_id})
        cloud["router_interfaces"] = cloud.get("router_interfaces", {})
        cloud["router_interfaces"][ident] = {
            "id": ident,
            "router_id": router["id"],
            "port_id": port_id,
        }
        return {"id": ident, "port_id": port_id, "region": catalogue.REGION, "force_destroy": False}

    def _delete_networking_router_interface_v2(self, cloud, record) -> None:
        router = cloud["routers"].get(record["router_id"])
        interface = next(
            (i for i in (router or {}).get("interfaces", []) if i["id"] == record["id"]), None
        )
        if interface:
            for fip in cloud["floating_ips"].values():
                port = cloud["ports"].get(fip.get("port_id") or "")
                if port and any(
                    ip["subnet_id"] == interface["subnet_id"] for ip in port["fixed_ips"]
                ):
                    raise ProviderError(
                        f"Error deleting openstack_networking_router_interface_v2 {record['id']}",
                        f"Router interface for subnet {interface['subnet_id']} on router "
                        f"{router['id']} cannot "
                        f"be deleted, as it is required by one or more floating IPs. (HTTP 409)",
                    )
            router["interfaces"].remove(interface)
        cloud["ports"].pop(record["port_id"], None)

    # --- IPAM -------------------------------------------------------------------------------
    @staticmethod
    def _used(cloud, subnet_id: str) -> set[str]:
        used = {cloud["subnets"].get(subnet_id, {}).get("dhcp_address")} - {None, ""}
        for port in cloud["ports"].values():
            used |= {ip["ip_address"] for ip in port["fixed_ips"] if ip["subnet_id"] == subnet_id}
        for router in cloud["routers"].values():
            used |= {
                ip["ip_address"]
                for ip in router["external_fixed_ips"]
                if ip["subnet_id"] == subnet_id
            }
        for fip in cloud["floating_ips"].values():
            if fip.get("subnet_id") == subnet_id:
                used.add(fip["address"])
        return used

    def _check_free(self, cloud, subnet, address: str) -> None:
        if address in self._used(cloud, subnet["id"]):
            raise ProviderError(
                "Error creating OpenStack Neutron port",
                f"IP address {address} already allocated in subnet {subnet['id']} (HTTP 409)",
            )

    def _allocate(self, cloud, subnet) -> str:
        used = self._used(cloud, subnet["id"])
        for pool in subnet["allocation_pools"]:
            address = ipaddress.ip_address(pool["start"])
            end = ipaddress.ip_address(pool["end"])
            while address <= end:
                if str(address) not in used:
                    return str(address)
                address += 1
        raise ProviderError(
            "Error creating OpenStack Neutron port",
            f"No more IP addresses available on network {subnet['network_id']}. (HTTP 409)",
        )

    # --- ports --------------------------------------------------------------------------------
    def _create_networking_port_v2(self, cloud, planned, config) -> dict:
        network = cloud["networks"].get(planned["network_id"])
        if network is None:
            raise _not_found("network", planned["network_id"])
        port_security = planned.get("port_security_enabled")
        if port_security is None or port_security is UNKNOWN:
            port_security = network["port_security_enabled"]
        groups = list(planned.get("security_group_ids") or [])
        for group in groups:
            if group not in cloud["security_groups"]:
                raise ProviderError(
                    "Error creating OpenStack Neutron port",
                    f"Security group {group} does not exist (HTTP 404)",
                )
        pairs = [dict(p) for p in planned.get("allowed_address_pairs") or []]
        if pairs and not port_security:
            raise ProviderError(
                "Error creating OpenStack Neutron port",
                "Port Security must be enabled in order to have allowed address pairs on a port. "
                "(HTTP 409)",
            )
        if groups and not port_security:
            raise ProviderError(
                "Error creating OpenStack Neutron port",
                "Port has security group associated. Cannot disable port security or ip address "
                "until security "
                "group is removed (HTTP 409)",
            )
        fixed_ips = []
        requested = planned.get("fixed_ip") or []
        if not requested and not planned.get("no_fixed_ip"):
            requested = [{"subnet_id": network["subnets"][0]}] if network["subnets"] else []
        for item in requested:
            subnet = cloud["subnets"].get(item.get("subnet_id") or "")
            if subnet is None or subnet["network_id"] != network["id"]:
                raise ProviderError(
                    "Error creating OpenStack Neutron port",
                    "Invalid input for operation: Failed to create port on network "
                    f"{network['id']}, because "
                    f"fixed_ips included invalid subnet {item.get('subnet_id')}. (HTTP 400)",
                )
            address = item.get("ip_address") or ""
            if address:
                if ipaddress.ip_address(address) not in ipaddress.ip_network(subnet["cidr"]):
                    raise ProviderError(
                        "Error creating OpenStack Neutron port",
                        f"IP address {address} is not a valid IP for the specified subnet. (HTTP "
                        "400)",
                    )
                self._check_free(cloud, subnet, address)
            else:
                address = self._allocate(cloud, subnet)
            fixed_ips.append({"subnet_id": subnet["id"], "ip_address": address})
        for pair in pairs:
            pair.setdefault("mac_address", "")
        ident = str(uuid.uuid4())
        mac = (
            planned.get("mac_address")
            if planned.get("mac_address") not in (None, UNKNOWN, "")
            else _mac()
        )
        if not groups and not planned.get("no_security_groups") and port_security:
            groups = [self._default_group(cloud)]
        cloud["ports"][ident] = {
            "id": ident,
            "name": planned.get("name") or "",
            "network_id": network["id"],
            "fixed_ips": fixed_ips,
            "mac_address": mac,
            "device_owner": planned.get("device_owner") or "",
            "device_id": planned.get("device_id") or "",
            "security_group_ids": groups,
            "port_security_enabled": bool(port_security),
            "allowed_address_pairs": [
                {"ip_address": p["ip_address"], "mac_address": p["mac_address"] or mac}
                for p in pairs
            ],
        }
        return {
            "id": ident,
            "region": catalogue.REGION,
            "tenant_id": catalogue.PROJECT_ID,
            "admin_state_up": True,
            "mac_address": mac,
            "all_fixed_ips": [ip["ip_address"] for ip in fixed_ips],
            "all_security_group_ids": groups,
            "port_security_enabled": bool(port_security),
            "device_owner": planned.get("device_owner") or "",
            "device_id": planned.get("device_id") or "",
            "dns_assignment": [],
            "binding": [
                {
                    "host_id": "",
                    "profile": "",
                    "vif_details": {},
                    "vif_type": "",
                    "vnic_type": "normal",
                }
            ],
        }

    def _update_networking_port_v2(self, cloud, record, prior, planned) -> dict:
        groups = list(planned.get("security_group_ids") or [])
        for group in groups:
            if group not in cloud["security_groups"]:
                raise ProviderError(
                    "Error updating OpenStack Neutron port",
                    f"Security group {group} does not exist (HTTP 404)",
                )
        record["security_group_ids"] = groups
        record["allowed_address_pairs"] = [
            {
                "ip_address": p["ip_address"],
                "mac_address": p.get("mac_address") or record["mac_address"],
            }
            for p in planned.get("allowed_address_pairs") or []
        ]
        return {"all_security_group_ids": groups}

    def _delete_networking_port_v2(self, cloud, record) -> None:
        for fip in cloud["floating_ips"].values():
            if fip.get("port_id") == record["id"]:
                fip["port_id"] = ""
                fip["fixed_ip"] = ""

    def _default_group(self, cloud) -> str:
        for group in cloud["security_groups"].values():
            if group["name"] == "default":
                return group["id"]
        ident = str(uuid.uuid4())
        cloud["security_groups"][ident] = {"id": ident, "name": "default", "stateful": True}
        # Neutron's default group: all egress, ingress from members of the group
        for rule in (
            {"direction": "egress", "ethertype": "IPv4"},
            {"direction": "egress", "ethertype": "IPv6"},
            {"direction": "ingress", "ethertype": "IPv4", "remote_group_id": ident},
            {"direction": "ingress", "ethertype": "IPv6", "remote_group_id": ident},
        ):
            rule_id = str(uuid.uuid4())
            cloud["security_group_rules"][rule_id] = {
                "id": rule_id,
                "security_group_id": ident,
                **_rule(rule),
            }
        return ident

    # --- security groups ----------------------------------------------------------------------
    def _create_networking_secgroup_v2(self, cloud, planned, config) -> dict:
        ident = str(uuid.uuid4())
        stateful = planned.get("stateful")
        cloud["security_groups"][ident] = {
            "id": ident,
            "name": planned.get("name") or "",
            "stateful": True if stateful in (None, UNKNOWN) else bool(stateful),
        }
        if not planned.get("delete_default_rules"):
            # Neutron gives every new group "allow all egress" for IPv4 and IPv6
            for ethertype in ("IPv4", "IPv6"):
                rule_id = str(uuid.uuid4())
                cloud["security_group_rules"][rule_id] = {
                    "id": rule_id,
                    "security_group_id": ident,
                    **_rule({"direction": "egress", "ethertype": ethertype}),
                }
        return {
            "id": ident,
            "region": catalogue.REGION,
            "tenant_id": catalogue.PROJECT_ID,
            "stateful": True,
        }

    def _delete_networking_secgroup_v2(self, cloud, record) -> None:
        users = [
            p["id"] for p in cloud["ports"].values() if record["id"] in p["security_group_ids"]
        ]
        if users:
            raise ProviderError(
                f"Error deleting openstack_networking_secgroup_v2 {record['id']}",
                f"Security Group {record['id']} in use. (HTTP 409)",
            )
        for rule_id, rule in list(cloud["security_group_rules"].items()):
            if rule["security_group_id"] == record["id"]:
                del cloud["security_group_rules"][rule_id]

    def _create_networking_secgroup_rule_v2(self, cloud, planned, config) -> dict:
        group = planned["security_group_id"]
        if group not in cloud["security_groups"]:
            raise ProviderError(
                "Error creating openstack_networking_secgroup_rule_v2",
                f"Security group {group} does not exist (HTTP 404)",
            )
        remote_group = planned.get("remote_group_id")
        if remote_group not in (None, "", UNKNOWN) and remote_group not in cloud["security_groups"]:
            raise ProviderError(
                "Error creating openstack_networking_secgroup_rule_v2",
                f"Security group {remote_group} does not exist (HTTP 404)",
            )
        low, high = planned.get("port_range_min"), planned.get("port_range_max")
        if low is not None and high is not None and low > high:
            raise ProviderError(
                "Error creating openstack_networking_secgroup_rule_v2",
                "For TCP/UDP protocols, port_range_min must be <= port_range_max (HTTP 400)",
            )
        rule = _rule(
            {
                key: planned.get(key)
                for key in (
                    "direction",
                    "ethertype",
                    "protocol",
                    "port_range_min",
                    "port_range_max",
                    "remote_ip_prefix",
                    "remote_group_id",
                )
            }
        )
        for other in cloud["security_group_rules"].values():
            if other["security_group_id"] == group and _rule(other) == rule:
                raise ProviderError(
                    "Error creating openstack_networking_secgroup_rule_v2",
                    f"Security group rule already exists. Rule id is {other['id']}. (HTTP 409)",
                )
        ident = str(uuid.uuid4())
        cloud["security_group_rules"][ident] = {"id": ident, "security_group_id": group, **rule}
        return {
            "id": ident,
            "region": catalogue.REGION,
            "tenant_id": catalogue.PROJECT_ID,
            "remote_ip_prefix": rule["remote_ip_prefix"] or "",
            "remote_group_id": rule["remote_group_id"] or "",
            "remote_address_group_id": "",
        }

    # --- floating IPs ---------------------------------------------------------------------------
    def _create_networking_floatingip_v2(self, cloud, planned, config) -> dict:
        pool = planned.get("pool") or os.environ.get("OS_POOL_NAME") or ""
        network = next(
            (n for n in cloud["networks"].values() if n["name"] == pool or n["id"] == pool), None
        )
        if network is None:
            raise ProviderError(f"No network found with name: {pool}")
        if not network.get("external"):
            raise ProviderError(
                "Error creating openstack_networking_floatingip_v2",
                f"Bad floatingip request: Network {network['id']} is not a valid external "
                "network. (HTTP 400)",
            )
        subnet = cloud["subnets"][network["subnets"][0]]
        port_id = planned.get("port_id") if planned.get("port_id") not in (None, UNKNOWN) else ""
        fixed_ip = ""
        if port_id:
            port = cloud["ports"].get(port_id)
            if port is None:
                raise _not_found("port", port_id)
            if not self._router_reaches(cloud, port, network["id"]):
                raise ProviderError(
                    "Error creating openstack_networking_floatingip_v2",
                    f"External network {network['id']} is not reachable from subnet "
                    f"{port['fixed_ips'][0]['subnet_id']}.  Therefore, cannot associate Port "
                    f"{port_id} "
                    "with a Floating IP. (HTTP 404)",
                )
            fixed_ip = port["fixed_ips"][0]["ip_address"]
        address = (
            planned.get("address") if planned.get("address") not in (None, UNKNOWN, "") else None
        )
        address = address or self._allocate(cloud, subnet)
        ident = str(uuid.uuid4())
        cloud["floating_ips"][ident] = {
            "id": ident,
            "address": address,
            "network_id": network["id"],
            "subnet_id": subnet["id"],
            "port_id": port_id,
            "fixed_ip": fixed_ip,
        }
        return {
            "id": ident,
            "address": address,
            "pool": network["name"],
            "port_id": port_id,
            "fixed_ip": fixed_ip,
            "region": catalogue.REGION,
            "tenant_id": catalogue.PROJECT_ID,
            "subnet_id": "",
            "subnet_ids": None,
            "dns_domain": "",
            "dns_name": "",
        }

    @staticmethod
    def _router_reaches(cloud, port, external_network_id: str) -> bool:
        subnets = {ip["subnet_id"] for ip in port["fixed_ips"]}
        for router in cloud["routers"].values():
            if router["external_network_id"] == external_network_id and any(
                i["subnet_id"] in subnets for i in router["interfaces"]
            ):
                return True
        return False

    # --- block storage ----------------------------------------------------------------------------
    def _create_blockstorage_volume_v3(self, cloud, planned, config) -> dict:
        size = planned.get("size")
        if not size or size < 1:
            raise ProviderError(
                "Error creating openstack_blockstorage_volume_v3",
                "Invalid input received: size must be > 0 (HTTP 400)",
            )
        volume_type = planned.get("volume_type")
        volume_type = "__DEFAULT__" if volume_type in (None, UNKNOWN, "") else volume_type
        ident = str(uuid.uuid4())
        cloud["volumes"][ident] = {
            "id": ident,
            "name": planned.get("name") or "",
            "size": size,
            "volume_type": volume_type,
            "status": "available",
            "attachments": [],
        }
        return {
            "id": ident,
            "region": catalogue.REGION,
            "availability_zone": catalogue.AVAILABILITY_ZONE,
            "volume_type": volume_type,
            "attachment": [],
            "metadata": {},
        }

    def _delete_blockstorage_volume_v3(self, cloud, record) -> None:
        if record["attachments"]:
            raise ProviderError(
                f"Error deleting openstack_blockstorage_volume_v3 {record['id']}",
                "Invalid volume: Volume status must be available or error or error_restoring or "
                "error_extending or error_managing and must not be migrating, attached, belong "
                "to a "
                "group, have snapshots, awaiting a transfer, or be disassociated from snapshots "
                "after "
                "volume transfer. (HTTP 400)",
            )

    # --- compute ----------------------------------------------------------------------------------
    def _image_id(self, cloud, planned) -> str:
        """getImageIDFromConfig of the provider, word for word in its rules. Reads ``cloud``
        (the open transaction's document): the store's lock is not re-entrant across files."""
        devices = planned.get("block_device") or []
        if devices:
            need_image = any(
                d.get("source_type") == "image" and d.get("destination_type") == "local"
                for d in devices
            )
            if not need_image:
                return ""
        if planned.get("image_id") not in (None, "", UNKNOWN):
            return planned["image_id"]
        if os.environ.get("OS_IMAGE_ID"):
            return os.environ["OS_IMAGE_ID"]
        name = planned.get("image_name") if planned.get("image_name") not in (None, UNKNOWN) else ""
        name = name or os.environ.get("OS_IMAGE_NAME", "")
        if name:
            matches = [i for i in catalogue.images(cloud) if i["name"] == name]
            if not matches:
                raise ProviderError(f"No image found with name: {name}")
            if len(matches) > 1:
                raise ProviderError(f"Found {len(matches)} images matching {name}")
            return matches[0]["id"]
        raise ProviderError(
            "Neither a boot device, image ID, or image name were able to be determined"
        )

    def _create_compute_instance_v2(self, cloud, planned, config) -> dict:
        image_id = self._image_id(cloud, planned)
        images = {i["id"]: i for i in catalogue.images(cloud)}
        if image_id and image_id not in images:
            raise ProviderError(
                "Error creating OpenStack server",
                f"Bad request with: [POST /servers], error message: Image {image_id} could not "
                "be found. (HTTP 400)",
            )
        flavor = self._flavor(planned)
        networks = []
        for item in planned.get("network") or []:
            port_id = item.get("port") if item.get("port") not in (None, UNKNOWN) else ""
            if not port_id:
                raise ProviderError("the lab cloud attaches instances by port: set network.port")
            port = cloud["ports"].get(port_id)
            if port is None:
                raise _not_found("port", port_id)
            if port["device_id"]:
                raise ProviderError(
                    "Error creating OpenStack server",
                    f"Port {port_id} is still in use. (HTTP 409)",
                )
            networks.append(port)
        zone = planned.get("availability_zone")
        if zone not in (None, "", UNKNOWN) and zone not in catalogue.AVAILABILITY_ZONES:
            raise ProviderError(
                "Error creating OpenStack server",
                "Bad request with: [POST /servers], error message: The requested availability "
                "zone is not available (HTTP 400)",
            )
        zone = zone if zone not in (None, "", UNKNOWN) else catalogue.AVAILABILITY_ZONE
        groups = [
            hints.get("group")
            for hints in planned.get("scheduler_hints") or []
            if hints.get("group") not in (None, "", UNKNOWN)
        ]
        for group in groups:
            if group not in cloud["server_groups"]:
                raise ProviderError(
                    "Error creating OpenStack server",
                    f"Bad request with: [POST /servers], error message: Invalid input for field/"
                    f"attribute group. Value: {group}. (HTTP 400)",
                )
        volumes = []
        boot_volumes = []
        for device in planned.get("block_device") or []:
            if (device.get("source_type"), device.get("destination_type")) == ("image", "volume"):
                if device.get("uuid") not in images:
                    raise ProviderError(
                        "Error creating OpenStack server",
                        f"Block Device Mapping is Invalid: failed to get image {device['uuid']}. "
                        "(HTTP 400)",
                    )
                boot_volumes.append(device)
            elif device.get("source_type") == "volume":
                volume = cloud["volumes"].get(device.get("uuid") or "")
                if volume is None:
                    raise _not_found("volume", device.get("uuid") or "")
                if volume["attachments"] and not volume.get("multiattach"):
                    raise ProviderError(
                        "Error creating OpenStack server",
                        f"Invalid volume: volume {volume['id']} status must be 'available' "
                        "(in-use) (HTTP 400)",
                    )
                volumes.append((volume, bool(device.get("delete_on_termination"))))
            elif (
                device.get("source_type") == "image"
                and device.get("uuid") not in (None, "")
                and device["uuid"] not in images
            ):
                raise ProviderError(
                    "Error creating OpenStack server",
                    f"Block Device Mapping is Invalid: failed to get image {device['uuid']}. "
                    "(HTTP 400)",
                )
        ident = str(uuid.uuid4())
        for port in networks:
            port["device_id"] = ident
            port["device_owner"] = "compute:nova"
        for group in groups:
            cloud["server_groups"][group]["members"].append(ident)
        disks = (
            ["vda"]
            if image_id
            or any(d.get("source_type") == "image" for d in planned.get("block_device") or [])
            else []
        )
        attached = []
        for device in boot_volumes:
            # Nova asks Cinder for a volume made from the image: the instance's root disk
            volume_id = str(uuid.uuid4())
            cloud["volumes"][volume_id] = {
                "id": volume_id,
                "name": "",
                "size": int(device["volume_size"]),
                "volume_type": device.get("volume_type") or catalogue.VOLUME_TYPE,
                "image_id": device["uuid"],
                "bootable": True,
                "status": "in-use",
                "attachments": [{"server_id": ident, "device": "/dev/vda"}],
            }
            attached.append(
                {
                    "volume_id": volume_id,
                    "device": "/dev/vda",
                    "delete_on_termination": bool(device.get("delete_on_termination")),
                }
            )
        for index, (volume, delete) in enumerate(volumes):
            device = f"/dev/vd{chr(ord('a') + len(disks) + index)}"
            volume["attachments"] = [{"server_id": ident, "device": device}]
            volume["status"] = "in-use"
            attached.append(
                {"volume_id": volume["id"], "device": device, "delete_on_termination": delete}
            )
        now = _now()
        cloud["servers"][ident] = {
            "id": ident,
            "name": planned["name"],
            "image_id": image_id,
            "flavor": flavor["name"],
            "ports": [p["id"] for p in networks],
            "volumes": attached,
            "user_data": config.get("user_data") or "",
            "config_drive": bool(planned.get("config_drive")),
            "availability_zone": zone,
            "server_groups": groups,
            "metadata": dict(planned.get("metadata") or {}),
            "status": "ACTIVE",
            "created": now,
        }
        group_names = sorted(
            {
                cloud["security_groups"][g]["name"]
                for p in networks
                for g in p["security_group_ids"]
                if g in cloud["security_groups"]
            }
        )
        network_views = []
        for port in networks:
            network = cloud["networks"][port["network_id"]]
            network_views.append(
                {
                    "uuid": network["id"],
                    "name": network["name"],
                    "port": port["id"],
                    "fixed_ip_v4": port["fixed_ips"][0]["ip_address"] if port["fixed_ips"] else "",
                    "fixed_ip_v6": "",
                    "mac": port["mac_address"],
                    "access_network": False,
                }
            )
        return {
            "id": ident,
            "region": catalogue.REGION,
            "availability_zone": zone,
            "image_id": image_id or "Attempt to boot from volume - no image supplied",
            "image_name": images[image_id]["name"] if image_id else "",
            "flavor_id": flavor["id"],
            "flavor_name": flavor["name"],
            "access_ip_v4": network_views[0]["fixed_ip_v4"] if network_views else "",
            "access_ip_v6": "",
            "network": network_views,
            "security_groups": group_names,
            "all_metadata": dict(planned.get("metadata") or {}),
            "all_tags": [],
            "created": now,
            "updated": now,
            "power_state": "active",
        }

    def _flavor(self, planned) -> dict:
        flavors = catalogue.flavors()
        if planned.get("flavor_id") not in (None, "", UNKNOWN):
            for flavor in flavors:
                if flavor["id"] == planned["flavor_id"]:
                    return flavor
            raise ProviderError(
                f"Error creating OpenStack server: flavor {planned['flavor_id']} could not be found"
            )
        name = (
            planned.get("flavor_name") if planned.get("flavor_name") not in (None, UNKNOWN) else ""
        )
        name = name or os.environ.get("OS_FLAVOR_NAME", "")
        if not name:
            raise ProviderError("Neither a flavor_id or flavor_name could be determined")
        for flavor in flavors:
            if flavor["name"] == name:
                return flavor
        raise ProviderError(
            f"Unable to find flavor {name}",
            f"the lab cloud's flavors: {', '.join(f['name'] for f in flavors)}",
        )

    def _update_compute_instance_v2(self, cloud, record, prior, planned) -> dict:
        record["metadata"] = dict(planned.get("metadata") or {})
        if planned.get("flavor_name") not in (None, UNKNOWN) and planned[
            "flavor_name"
        ] != prior.get("flavor_name"):
            flavor = self._flavor(planned)
            record["flavor"] = flavor["name"]
            return {
                "flavor_id": flavor["id"],
                "all_metadata": record["metadata"],
                "updated": _now(),
            }
        return {"all_metadata": record["metadata"]}

    def _create_compute_servergroup_v2(self, cloud, planned, config) -> dict:
        policies = list(planned.get("policies") or [])
        allowed = ("affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity")
        if any(p not in allowed for p in policies):
            raise ProviderError(
                "Error creating openstack_compute_servergroup_v2",
                f"Bad request with: [POST /os-server-groups], error message: Invalid input for "
                f"field/attribute policy. Value: {policies[0]}. (HTTP 400)",
            )
        ident = str(uuid.uuid4())
        cloud["server_groups"][ident] = {
            "id": ident,
            "name": planned["name"],
            "policies": policies,
            "members": [],
        }
        return {"id": ident, "region": catalogue.REGION, "members": [], "rules": []}

    def _delete_compute_servergroup_v2(self, cloud, record) -> None:
        return None

    def _delete_compute_instance_v2(self, cloud, record) -> None:
        for group in record.get("server_groups", []):
            members = cloud["server_groups"].get(group, {}).get("members", [])
            if record["id"] in members:
                members.remove(record["id"])
        for port_id in record["ports"]:
            port = cloud["ports"].get(port_id)
            if port:
                port["device_id"] = ""
                port["device_owner"] = ""
        for attachment in record["volumes"]:
            volume = cloud["volumes"].get(attachment["volume_id"])
            if volume is None:
                continue
            volume["attachments"] = []
            volume["status"] = "available"
            if attachment["delete_on_termination"]:
                cloud["volumes"].pop(volume["id"], None)

    # --- data sources ---------------------------------------------------------------------------
    def read_data(self, type_name: str, config: dict) -> dict:
        block = self.schemas["data_sources"][type_name]["block"]
        if type_name == "openstack_images_image_v2":
            view = self._image_data(config)
        elif type_name == "openstack_networking_network_v2":
            view = self._network_data(config)
        else:
            raise ProviderError(f"data source {type_name} is not supported by the lab cloud")
        planned = {name: config.get(name) for name in block["attributes"]}
        for name in block["attributes"]:
            if planned[name] is None and block["attributes"][name].get("computed"):
                planned[name] = UNKNOWN
        planned.update({k: v for k, v in view.items() if k in block["attributes"]})
        for name in block["blocks"]:
            planned[name] = config.get(name)
        return settle(block, planned, view)

    def _image_data(self, config) -> dict:
        matches = [
            image
            for image in catalogue.images(self._store().read())
            if (not config.get("name") or image["name"] == config["name"])
            and (not config.get("visibility") or image["visibility"] == config["visibility"])
        ]
        if not matches:
            raise ProviderError("No Image found")
        if len(matches) > 1 and not config.get("most_recent"):
            raise ProviderError(
                "Your query returned more than one result. Please try a more specific search "
                "criteria, "
                "or set `most_recent` attribute to true."
            )
        image = sorted(matches, key=lambda i: i["created_at"])[-1]
        return {
            "id": image["id"],
            "name": image["name"],
            "region": catalogue.REGION,
            "container_format": image["container_format"],
            "disk_format": image["disk_format"],
            "min_disk_gb": image["min_disk_gb"],
            "min_ram_mb": image["min_ram_mb"],
            "size_bytes": image["size_bytes"],
            "visibility": image["visibility"],
            "created_at": image["created_at"],
            "updated_at": image["created_at"],
            "status": "active",
            "protected": False,
            "properties": {k: str(v) for k, v in image["properties"].items()},
            "file": f"/v2/images/{image['id']}/file",
            "schema": "/v2/schemas/image",
            "checksum": "",
            "metadata": {},
            "tags": [],
        }

    def _network_data(self, config) -> dict:
        cloud = self._store().read()
        matches = [
            network
            for network in cloud["networks"].values()
            if (not config.get("name") or network["name"] == config["name"])
            and (
                config.get("external") is None
                or bool(network.get("external")) == config["external"]
            )
            and (not config.get("network_id") or network["id"] == config["network_id"])
        ]
        if not matches:
            raise ProviderError("No networking network found")
        if len(matches) > 1:
            raise ProviderError("More than one networking network found")
        network = matches[0]
        return {
            "id": network["id"],
            "network_id": network["id"],
            "name": network["name"],
            "region": catalogue.REGION,
            "external": bool(network.get("external")),
            "shared": str(bool(network.get("shared"))).lower(),
            "admin_state_up": "true",
            "mtu": network.get("mtu", 1500),
            "subnets": list(network["subnets"]),
            "tenant_id": catalogue.PROJECT_ID,
            "all_tags": [],
            "availability_zone_hints": [],
            "dns_domain": "",
            "segments": [],
        }


def _rule(rule: dict) -> dict:
    """A rule's identity as Neutron compares duplicates (empty values normalised)."""
    prefix = rule.get("remote_ip_prefix") or None
    return {
        "direction": rule.get("direction"),
        "ethertype": rule.get("ethertype") or "IPv4",
        "protocol": (rule.get("protocol") or None),
        "port_range_min": rule.get("port_range_min"),
        "port_range_max": rule.get("port_range_max"),
        "remote_ip_prefix": prefix.lower() if prefix else None,
        "remote_group_id": rule.get("remote_group_id") or None,
    }


_TABLES = {
    "openstack_networking_network_v2": ("networks", "network"),
    "openstack_networking_subnet_v2": ("subnets", "subnet"),
    "openstack_networking_router_v2": ("routers", "router"),
    "openstack_networking_router_interface_v2": ("router_interfaces", "router interface"),
    "openstack_networking_port_v2": ("ports", "port"),
    "openstack_networking_secgroup_v2": ("security_groups", "security group"),
    "openstack_networking_secgroup_rule_v2": ("security_group_rules", "security group rule"),
    "openstack_networking_floatingip_v2": ("floating_ips", "floating IP"),
    "openstack_blockstorage_volume_v3": ("volumes", "volume"),
    "openstack_compute_instance_v2": ("servers", "server"),
    "openstack_lb_loadbalancer_v2": ("loadbalancers", "load balancer"),
    "openstack_lb_listener_v2": ("listeners", "listener"),
    "openstack_lb_pool_v2": ("pools", "pool"),
    "openstack_lb_member_v2": ("members", "member"),
    "openstack_lb_monitor_v2": ("monitors", "health monitor"),
    "openstack_compute_servergroup_v2": ("server_groups", "server group"),
}
