"""What Nova gives an instance to boot from: its user data and metadata, by config drive or by
the metadata service, and whether the instance can reach either.

* **User data on the wire.** The provider hands ``user_data`` to gophercloud, which sends it
  unchanged when it is already valid base64 and base64-encodes it otherwise; Nova stores the
  decoded bytes and serves them as they are. The root module passes ``base64gzip``: the
  instance receives gzip bytes, which cloud-init decompresses.
* **Config drive** (``config_drive = true``): a volume labelled ``config-2`` with
  ``openstack/<version>/{meta_data.json,user_data,network_data.json,vendor_data.json}``
  (:func:`config_drive` returns those files; versions as Nova's ``nova/api/metadata/base.py``).
* **Metadata service** (169.254.169.254): reached through the Neutron router of one of the
  instance's subnets (the L3 agent's metadata proxy). A subnet without a router reaches it only
  where the DHCP agent serves isolated metadata (``enable_isolated_metadata``, off by default),
  which the lab cloud does not: :func:`user_data_source` says ``None`` for an instance on
  router-less networks only and without a config drive — it would boot without its user data.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json

from kubesalt.cloud import catalogue

# nova/api/metadata/base.py: the versions a config drive carries (and "latest").
OPENSTACK_VERSIONS = (
    "2012-08-10",
    "2013-04-04",
    "2013-10-17",
    "2015-10-15",
    "2016-06-30",
    "2016-10-06",
    "2017-02-22",
    "2018-08-27",
    "2020-10-14",
    "latest",
)


def user_data_bytes(user_data: str) -> bytes:
    """The bytes the instance receives for the provider's ``user_data`` string."""
    if not user_data:
        return b""
    try:
        return base64.b64decode(user_data, validate=True)
    except (binascii.Error, ValueError):
        return user_data.encode()  # gophercloud encoded it; Nova decodes it back


def network_data(cloud: dict, server: dict) -> dict:
    """``network_data.json`` of an instance: a link per port, an IPv4 network per fixed IP with
    the subnet's gateway as default route (the first routed subnet's), the DNS servers."""
    links, networks, services = [], [], []
    routed = {i["subnet_id"] for r in cloud["routers"].values() for i in r["interfaces"]}
    subnets = [ip["subnet_id"] for p in server["ports"] for ip in cloud["ports"][p]["fixed_ips"]]
    default_subnet = next((s for s in subnets if s in routed), subnets[0] if subnets else None)
    for port_id in server["ports"]:
        port = cloud["ports"][port_id]
        link = f"tap{port_id[:11]}"
        links.append(
            {
                "id": link,
                "type": "ovs",
                "ethernet_mac_address": port["mac_address"],
                "mtu": 1442,
                "vif_id": port_id,
            }
        )
        for ip in port["fixed_ips"]:
            subnet = cloud["subnets"][ip["subnet_id"]]
            cidr = ipaddress.ip_network(subnet["cidr"])
            routes = []
            if subnet["gateway_ip"] and ip["subnet_id"] == default_subnet:
                any_ipv4 = str(ipaddress.IPv4Address(0))
                routes.append(
                    {"network": any_ipv4, "netmask": any_ipv4, "gateway": subnet["gateway_ip"]}
                )
            networks.append(
                {
                    "id": f"network{len(networks)}",
                    "type": "ipv4",
                    "link": link,
                    "ip_address": ip["ip_address"],
                    "netmask": str(cidr.netmask),
                    "routes": routes,
                    "network_id": port["network_id"],
                }
            )
            services += [{"type": "dns", "address": a} for a in subnet.get("dns_nameservers", [])]
    unique_services = [
        dict(s) for s in {json.dumps(s, sort_keys=True): s for s in services}.values()
    ]
    return {"links": links, "networks": networks, "services": unique_services}


def meta_data(server: dict) -> dict:
    hostname = server["name"].split(".")[0]
    return {
        "uuid": server["id"],
        "name": server["name"],
        "hostname": hostname,
        "availability_zone": catalogue.AVAILABILITY_ZONE,
        "launch_index": 0,
        "meta": dict(server.get("metadata") or {}),
        "public_keys": {},
        "project_id": catalogue.PROJECT_ID,
        "devices": [],
    }


def config_drive(cloud: dict, server_id: str) -> dict[str, bytes]:
    """The files of the instance's config drive (paths relative to its root)."""
    server = cloud["servers"][server_id]
    files: dict[str, bytes] = {}
    meta = json.dumps(meta_data(server)).encode()
    network = json.dumps(network_data(cloud, server)).encode()
    user_data = user_data_bytes(server.get("user_data") or "")
    for version in OPENSTACK_VERSIONS:
        base = f"openstack/{version}"
        files[f"{base}/meta_data.json"] = meta
        files[f"{base}/vendor_data.json"] = b"{}"
        if version >= "2015-10-15":
            files[f"{base}/network_data.json"] = network
        if user_data:
            files[f"{base}/user_data"] = user_data
    return files


def metadata_reachable(cloud: dict, server_id: str) -> bool:
    """Whether the metadata service is reachable: one of the instance's subnets has a router."""
    server = cloud["servers"][server_id]
    routed = {i["subnet_id"] for r in cloud["routers"].values() for i in r["interfaces"]}
    subnets = {ip["subnet_id"] for p in server["ports"] for ip in cloud["ports"][p]["fixed_ips"]}
    return bool(subnets & routed)


def user_data_source(cloud: dict, server_id: str) -> str | None:
    """Where the instance's cloud-init finds its data: ``config-drive``, ``metadata`` or None."""
    if cloud["servers"][server_id].get("config_drive"):
        return "config-drive"
    if metadata_reachable(cloud, server_id):
        return "metadata"
    return None
