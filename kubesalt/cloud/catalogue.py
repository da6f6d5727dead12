"""What the lab cloud offers before anyone creates anything: images, flavors, the external
network (the floating IP pool) and the region. IDs are stable (UUIDv5 of the name) so that a
plan is the same on every machine."""

from __future__ import annotations

import ipaddress
import uuid

REGION = "RegionOne"
AVAILABILITY_ZONE = "nova"
# Nova's availability zones in the lab (an operator's per-role choice must name one of these).
AVAILABILITY_ZONES = ("nova", "az-2")
VOLUME_TYPE = "__DEFAULT__"
PROJECT_ID = uuid.uuid5(uuid.NAMESPACE_URL, "kubesalt-lab/project").hex
_NS = uuid.uuid5(uuid.NAMESPACE_URL, "kubesalt-lab")

IMAGES = [
    {
        "name": "debian-12-genericcloud-amd64",
        "container_format": "bare",
        "disk_format": "qcow2",
        "min_disk_gb": 3,
        "min_ram_mb": 0,
        "size_bytes": 343_273_472,
        "visibility": "public",
        "created_at": "2026-11-01T00:00:00Z",
        "properties": {"os_distro": "debian", "os_version": "12", "hw_disk_bus": "virtio"},
    },
]
FLAVORS = [
    {"name": "m1.small", "vcpus": 1, "ram_mb": 2048, "disk_gb": 20},
    {"name": "m1.large", "vcpus": 4, "ram_mb": 8192, "disk_gb": 80},
]
# The external (provider) network: the floating IP pool and the routers' gateways. Its
# addresses exist only inside the lab's namespaces (TEST-NET-3, RFC 5737).
EXTERNAL_NETWORK = {"name": "public", "cidr": "203.0.113.0/24", "gateway_ip": "203.0.113.1"}
EXTERNAL_POOL = ("203.0.113.10", "203.0.113.250")


def stable_id(kind: str, name: str) -> str:
    return str(uuid.uuid5(_NS, f"{kind}/{name}"))


def images(document: dict | None = None) -> list[dict]:
    """The built-in images, then those published into the cloud (``document["images"]``)."""
    published = list(((document or {}).get("images") or {}).values())
    return [{**image, "id": stable_id("image", image["name"])} for image in IMAGES] + published


def publish_image(document: dict, name: str, created_at: str) -> str:
    """Publish a new image under ``name`` (a cloud's weekly rebuild of its Debian image: same
    name, new ID); returns its ID. The properties are those of the built-in image."""
    (base,) = [image for image in IMAGES if image["name"] == name] or [IMAGES[0]]
    ident = str(uuid.uuid4())
    document.setdefault("images", {})[ident] = {
        **base,
        "name": name,
        "created_at": created_at,
        "id": ident,
    }
    return ident


def flavors() -> list[dict]:
    return [{**flavor, "id": stable_id("flavor", flavor["name"])} for flavor in FLAVORS]


def seed(document: dict) -> None:
    """Put the external network and its subnet into a fresh cloud."""
    network_id = stable_id("network", EXTERNAL_NETWORK["name"])
    subnet_id = stable_id("subnet", EXTERNAL_NETWORK["name"])
    if network_id in document["networks"]:
        return
    document["networks"][network_id] = {
        "id": network_id,
        "name": EXTERNAL_NETWORK["name"],
        "external": True,
        "shared": True,
        "admin_state_up": True,
        "mtu": 1500,
        "port_security_enabled": True,
        "tenant_id": PROJECT_ID,
        "subnets": [subnet_id],
        "managed": False,
    }
    network = ipaddress.ip_network(EXTERNAL_NETWORK["cidr"])
    document["subnets"][subnet_id] = {
        "id": subnet_id,
        "name": EXTERNAL_NETWORK["name"],
        "network_id": network_id,
        "cidr": str(network),
        "gateway_ip": EXTERNAL_NETWORK["gateway_ip"],
        "allocation_pools": [{"start": EXTERNAL_POOL[0], "end": EXTERNAL_POOL[1]}],
        "dns_nameservers": [],
        "ip_version": 4,
        "managed": False,
    }
