"""User-data of machines MAAS deploys, rendered by the same module as every other host.

``orch.baremetal`` (runner ``maas_baremetal.prepare``) turns the inventory Terraform wrote
(``pillar/_from_terraform.sls``) plus the bare-metal machines of the pillar into variables of
``terraform/modules/cloudinit``, renders them through :func:`kubesalt.tf.render.render`, and
keeps the user-data of the bare-metal machines only. Pure helpers: no file, no Salt.

A bare-metal machine keeps the hostname MAAS gave it (cloud-init sets it from MAAS's
meta-data): :func:`for_maas` drops the module's ``hostname``/``fqdn``; the minion id
is the inventory's all the same (``/etc/salt/minion_id`` in the user-data).
"""

from __future__ import annotations

import ipaddress
import re

import yaml

WORKER_ROLE = "microk8s_worker"
# Module variables the caller's settings may not set: the inventory and the keys are ours.
RESERVED = frozenset(
    {
        "domain",
        "networks",
        "salt_master",
        "bastion",
        "control_planes",
        "workers",
        "extra_nodes",
        "floating_ip",
        "minion_keys",
        "master_key",
    }
)
_ID_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$")
_MACHINE_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
# The cloud-config keys that would rename the machine.
HOSTNAME_KEYS = ("hostname", "fqdn", "prefer_fqdn_over_hostname")
# What kubesalt-bootstrap sends the master's admission step when the file exists.
ADMISSION_FILE = "/etc/kubesalt/admission.json"


class BareMetalError(ValueError):
    """Bad bare-metal input: the message names the key."""


def check_machines(machines, inventory: dict) -> dict[str, dict]:
    """``{minion id: {"machine", "private_ip"}}`` from the pillar's
    ``kubesalt:baremetal:machines`` (``{minion id: {machine: MAAS hostname or system_id,
    private_ip: address}}``); raises :class:`BareMetalError` naming the key."""
    key = "kubesalt:baremetal:machines"
    if not isinstance(machines, dict) or not machines:
        raise BareMetalError(f"{key}: expected a mapping of minion id to machine, got {machines!r}")
    domain = inventory.get("domain")
    nodes = inventory.get("nodes") or {}
    cidr = (inventory.get("networks") or {}).get("private_cidr")
    if not domain or not cidr or not nodes:
        raise BareMetalError(
            "the inventory (pillar/_from_terraform.sls) has no kubesalt:domain, networks or "
            "nodes: apply Terraform (or bring the lab up) first"
        )
    network = ipaddress.ip_network(cidr)
    taken = {n.get("private_ip"): i for i, n in nodes.items() if isinstance(n, dict)}
    seen_machines: dict[str, str] = {}
    checked = {}
    for minion_id, machine in sorted(machines.items()):
        where = f"{key}:{minion_id}"
        _check_minion_id(where, minion_id, domain, nodes)
        if not isinstance(machine, dict):
            raise BareMetalError(f"{where}: expected {{machine, private_ip}}, got {machine!r}")
        unknown = sorted(set(machine) - {"machine", "private_ip"})
        if unknown:
            raise BareMetalError(f"{where}: unknown keys {', '.join(unknown)}")
        name = machine.get("machine")
        if not isinstance(name, str) or not _MACHINE_RE.match(name):
            raise BareMetalError(
                f"{where}:machine: the machine's MAAS hostname or system_id, got {name!r}"
            )
        if name in seen_machines:
            raise BareMetalError(f"{where}:machine: {name} is also {seen_machines[name]}'s")
        seen_machines[name] = minion_id
        address = machine.get("private_ip")
        try:
            ip = ipaddress.ip_address(str(address))
        except ValueError:
            raise BareMetalError(f"{where}:private_ip: not an address: {address!r}") from None
        if ip not in network:
            raise BareMetalError(f"{where}:private_ip: {ip} is outside the private network {cidr}")
        if str(ip) in taken:
            raise BareMetalError(f"{where}:private_ip: {ip} is already {taken[str(ip)]}'s")
        taken[str(ip)] = minion_id
        checked[minion_id] = {"machine": name, "private_ip": str(ip)}
    return checked


def _check_minion_id(where: str, minion_id, domain: str, nodes: dict) -> None:
    """A bare-metal node's id: a lower-case FQDN in the inventory's domain, not yet a node."""
    if not isinstance(minion_id, str) or not _ID_RE.match(minion_id):
        raise BareMetalError(f"{where}: the minion id must be a lower-case FQDN")
    if not minion_id.endswith(f".{domain}"):
        raise BareMetalError(f"{where}: the minion id must be in the domain {domain}")
    if minion_id in nodes:
        raise BareMetalError(f"{where}: {minion_id} is already a node of the Terraform inventory")


def _short(minion_id: str, domain: str) -> str:
    return minion_id[: -len(domain) - 1]


def module_variables(
    inventory: dict,
    machines: dict[str, dict],
    minion_keys: dict[str, dict],
    placeholder_key: dict,
    *,
    master_public_key: str,
    settings: dict | None = None,
) -> dict:
    """Variables of ``terraform/modules/cloudinit`` for the inventory plus ``machines`` (as
    workers). ``minion_keys``: the bare-metal machines' key pairs; every other host gets
    ``placeholder_key`` (their user-data is thrown away), and so does the master's private
    key: only its public key reaches the machines' user-data (pinned). ``settings``: further
    module variables (the cluster's own, e.g. ``manage_resolv_conf``)."""
    settings = dict(settings or {})
    reserved = sorted(RESERVED & set(settings))
    if reserved:
        raise BareMetalError(
            f"kubesalt:baremetal:cloudinit: {', '.join(reserved)} come from the inventory"
        )
    domain = inventory["domain"]
    nodes = inventory["nodes"]
    microk8s = inventory.get("microk8s") or {}

    def with_role(role):
        return [i for i, n in sorted(nodes.items()) if role in (n.get("roles") or [])]

    def node(minion_id, public=False):
        entry = {"hostname": _short(minion_id, domain)}
        entry["private_ip"] = nodes[minion_id]["private_ip"]
        if public and nodes[minion_id].get("public_ip"):
            entry["public_ip"] = nodes[minion_id]["public_ip"]
        return entry

    masters, bastions = with_role("salt_master"), with_role("bastion")
    if len(masters) != 1 or len(bastions) != 1:
        raise BareMetalError("the inventory needs one salt_master and one bastion node")
    layout = {"salt_master", "bastion", "microk8s_control_plane", WORKER_ROLE}
    extra = [
        {"hostname": _short(i, domain), "private_ip": n["private_ip"], "roles": list(n["roles"])}
        for i, n in sorted(nodes.items())
        if not layout & set(n.get("roles") or [])
    ]
    workers = [node(i) for i in microk8s.get("workers") or []]
    workers += [
        {"hostname": _short(i, domain), "private_ip": m["private_ip"]}
        for i, m in sorted(machines.items())
    ]
    ids = list(nodes) + list(machines)
    variables = {
        **settings,
        "domain": domain,
        "networks": dict(inventory["networks"]),
        "salt_master": node(masters[0]),
        "bastion": {**node(bastions[0]), "public_ip": nodes[bastions[0]].get("public_ip")},
        "control_planes": [node(i, public=True) for i in microk8s.get("control_planes") or []],
        "workers": workers,
        "extra_nodes": extra,
        "floating_ip": microk8s.get("floating_ip"),
        "minion_keys": {i: minion_keys.get(i, placeholder_key) for i in ids},
        "master_key": {
            "public_key_pem": master_public_key,
            "private_key_pem": placeholder_key["private_key_pem"],
        },
    }
    if microk8s.get("channel"):
        variables.setdefault("microk8s_channel", microk8s["channel"])
    return variables


def for_maas(user_data: str) -> str:
    """The cloud-config for a machine MAAS deploys: without the keys that would rename the
    machine (MAAS names it), and without the admission request (``/etc/kubesalt/admission.json``:
    the master accepted this machine's key in advance, and the request's credential would be
    derived from the placeholder master key)."""
    header = "#cloud-config\n"
    if not user_data.startswith(header):
        raise BareMetalError("the rendered user-data is not a #cloud-config document")
    document = yaml.safe_load(user_data[len(header) :])
    for key in HOSTNAME_KEYS:
        document.pop(key, None)
    document["write_files"] = [
        f for f in document.get("write_files") or [] if f.get("path") != ADMISSION_FILE
    ]
    return header + yaml.safe_dump(document, sort_keys=False, default_flow_style=False, width=4096)
