"""Validation of the kubesalt pillar, run while ``map.jinja`` renders, before any state runs.

Every problem is reported as ``<pillar key>: <what is wrong>`` so an operator knows which
layer of the pillar to fix. Values that may be secret (tokens, file contents) are never
quoted in a message.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re

from microk8s_lib import validate as microk8s_validate

# DNS names made of lowercase labels. The pillar top file uses the same pattern (keep them
# equal; tests/functional/states/test_pillar_top.py checks it): an id outside it could
# carry fnmatch characters (*, ?, [) into pillar SLS names and read other hosts' files.
MINION_ID_PATTERN = (
    r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?([.][a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*)$"
)
_MINION_ID_RE = re.compile(MINION_ID_PATTERN)
MAX_ID_LENGTH = 253
_USER_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")

KNOWN_ROLES = frozenset(
    {
        "salt_master",
        "bastion",
        "microk8s_control_plane",
        "microk8s_worker",
        "maas_db",
        "maas_region",
        "maas_rack",
    }
)


class PillarError(ValueError):
    """The pillar is unusable; ``problems`` lists ``<pillar key>: <message>`` strings."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__(
            "invalid pillar, nothing was changed:\n  - " + "\n  - ".join(self.problems)
        )


def minion_id_ok(minion_id) -> bool:
    """Return True when ``minion_id`` is lowercase DNS labels joined by dots, at most 253 long."""
    return (
        isinstance(minion_id, str)
        and len(minion_id) <= MAX_ID_LENGTH
        and _MINION_ID_RE.fullmatch(minion_id) is not None
    )


class _Checker:
    def __init__(self):
        self.problems = []

    def fail(self, key, message):
        self.problems.append(f"{key}: {message}")

    def mapping(self, value, key, required=False):
        if value is None and not required:
            return {}
        if not isinstance(value, dict):
            self.fail(key, f"expected a mapping, got {type(value).__name__}")
            return {}
        return value

    def string_list(self, value, key):
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            self.fail(key, "expected a list of strings")
            return []
        return value

    def boolean(self, value, key):
        if value is not None and not isinstance(value, bool):
            self.fail(key, f"expected true or false, got {value!r}")

    def network(self, value, key):
        if not isinstance(value, str):
            self.fail(key, f"{value!r} is not an IPv4 network in CIDR form (not a string)")
            return None
        try:
            return ipaddress.IPv4Network(value, strict=True)
        except (ValueError, TypeError) as err:
            self.fail(key, f"{value!r} is not an IPv4 network in CIDR form ({err})")
            return None

    def address(self, value, key):
        if not isinstance(value, str):
            self.fail(key, f"{value!r} is not an IPv4 address (not a string)")
            return None
        try:
            return ipaddress.IPv4Address(value)
        except (ValueError, TypeError):
            self.fail(key, f"{value!r} is not an IPv4 address")
            return None

    def dns_name(self, value, key):
        if not minion_id_ok(value):
            self.fail(key, f"{value!r} is not a lowercase DNS name")
            return False
        return True


def validate(config, minion_id) -> None:
    """Check the merged ``kubesalt`` data (defaults + pillar) and the minion id.

    Raise :class:`PillarError` listing every problem found; return None when all is well.
    """
    check = _Checker()
    if not minion_id_ok(minion_id):
        check.fail(
            "minion id",
            f"{minion_id!r} does not match {MINION_ID_PATTERN} (lowercase DNS labels): "
            "its host and domain pillar layers are not read",
        )
    config = check.mapping(config, "kubesalt", required=True)
    _check_inventory(check, config)
    _check_microk8s(check, config)
    _check_core(check, config)
    if check.problems:
        raise PillarError(check.problems)


def _check_inventory(check, config):
    if config.get("domain") is not None:
        check.dns_name(config["domain"], "kubesalt:domain")
    if config.get("salt_master") is not None:
        check.dns_name(config["salt_master"], "kubesalt:salt_master")
    networks = check.mapping(config.get("networks"), "kubesalt:networks")
    cidrs = {}
    for name in ("public_cidr", "private_cidr"):
        if networks.get(name) is not None:
            cidrs[name] = check.network(networks[name], f"kubesalt:networks:{name}")
    nodes = check.mapping(config.get("nodes"), "kubesalt:nodes")
    owners = {}
    for node_id, raw_node in sorted(nodes.items()):
        prefix = f"kubesalt:nodes:{node_id}"
        check.dns_name(node_id, prefix)
        node = check.mapping(raw_node, prefix)
        roles = check.string_list(node.get("roles"), f"{prefix}:roles")
        for role in roles:
            if role not in KNOWN_ROLES:
                check.fail(
                    f"{prefix}:roles",
                    f"unknown role {role!r}; known roles: {', '.join(sorted(KNOWN_ROLES))}",
                )
        for field, cidr_name in (("private_ip", "private_cidr"), ("public_ip", "public_cidr")):
            if node.get(field) is None:
                if field == "private_ip":
                    check.fail(f"{prefix}:private_ip", "missing (every node needs one)")
                continue
            ip = check.address(node[field], f"{prefix}:{field}")
            if ip is None:
                continue
            network = cidrs.get(cidr_name)
            if network is not None and ip not in network:
                check.fail(
                    f"{prefix}:{field}",
                    f"{ip} is outside kubesalt:networks:{cidr_name} ({network})",
                )
            if ip in owners:
                check.fail(f"{prefix}:{field}", f"{ip} is already the address of {owners[ip]}")
            else:
                owners[ip] = f"kubesalt:nodes:{node_id}:{field}"


def _check_microk8s(check, config):
    microk8s = check.mapping(config.get("microk8s"), "kubesalt:microk8s")
    nodes = config.get("nodes") if isinstance(config.get("nodes"), dict) else {}
    members = {}
    for group, role in (
        ("control_planes", "microk8s_control_plane"),
        ("workers", "microk8s_worker"),
    ):
        key = f"kubesalt:microk8s:{group}"
        listed = check.string_list(microk8s.get(group), key)
        for node_id in listed:
            if node_id in members:
                check.fail(
                    key, f"{node_id!r} is also listed in kubesalt:microk8s:{members[node_id]}"
                )
                continue
            members[node_id] = group
            node = nodes.get(node_id)
            if not isinstance(node, dict):
                check.fail(key, f"{node_id!r} is not in kubesalt:nodes")
            elif role not in (node.get("roles") or []):
                check.fail(key, f"{node_id!r} lacks the role {role!r} in kubesalt:nodes")
        for node_id, node in sorted(nodes.items()):
            if isinstance(node, dict) and role in (node.get("roles") or []):
                if node_id not in listed:
                    check.fail(key, f"{node_id!r} has the role {role!r} but is not listed here")
    if microk8s.get("floating_ip") is not None:
        check.address(microk8s["floating_ip"], "kubesalt:microk8s:floating_ip")
    if microk8s.get("channel") is not None:
        try:
            microk8s_validate.channel(microk8s["channel"])
        except ValueError as err:
            check.fail("kubesalt:microk8s:channel", str(err).removeprefix("channel: "))
    ttl = microk8s.get("token_ttl")
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int) or ttl <= 0):
        check.fail("kubesalt:microk8s:token_ttl", f"expected a number of seconds > 0, got {ttl!r}")
    addons = check.mapping(microk8s.get("addons"), "kubesalt:microk8s:addons")
    for name, wanted in sorted(addons.items()):
        key = f"kubesalt:microk8s:addons:{name}"
        try:
            microk8s_validate.addon(name)
        except ValueError as err:
            check.fail(key, str(err).removeprefix("name: "))
            continue
        if isinstance(wanted, dict):
            check.boolean(wanted.get("enabled", True), f"{key}:enabled")
            check.string_list(wanted.get("args"), f"{key}:args")
        elif not isinstance(wanted, bool):
            check.fail(key, "expected true, false or {enabled: ..., args: [...]}")


def _check_core(check, config):
    resolv = check.mapping(config.get("resolv"), "kubesalt:resolv")
    for index, server in enumerate(
        check.string_list(resolv.get("nameservers"), "kubesalt:resolv:nameservers")
    ):
        try:
            ipaddress.ip_address(server)
        except ValueError:
            check.fail(f"kubesalt:resolv:nameservers:{index}", f"{server!r} is not an IP address")
    packages = check.mapping(config.get("packages"), "kubesalt:packages")
    check.string_list(packages.get("install"), "kubesalt:packages:install")
    check.boolean(packages.get("upgrade"), "kubesalt:packages:upgrade")
    check.boolean(packages.get("refresh"), "kubesalt:packages:refresh")
    users = check.mapping(config.get("users"), "kubesalt:users")
    for name, raw_user in sorted(users.items()):
        key = f"kubesalt:users:{name}"
        if not isinstance(name, str) or not _USER_RE.match(name):
            check.fail(key, f"{name!r} is not a valid user name")
        user = check.mapping(raw_user, key)
        if user.get("absent"):
            continue
        keys = check.string_list(user.get("ssh_keys"), f"{key}:ssh_keys")
        if not keys:
            check.fail(
                f"{key}:ssh_keys",
                "a user needs at least one SSH key (password login is off on every host)",
            )
        check.boolean(user.get("sudo"), f"{key}:sudo")
    files = check.mapping(config.get("files"), "kubesalt:files")
    for path, raw_spec in sorted(files.items()):
        key = f"kubesalt:files:{path}"
        if not isinstance(path, str) or not posixpath.isabs(path) or ".." in path.split("/"):
            check.fail(key, "the key must be an absolute path without '..'")
        spec = check.mapping(raw_spec, key)
        if ("source" in spec) == ("contents" in spec):
            check.fail(key, "give exactly one of 'source' (salt://...) or 'contents'")
        mode = spec.get("mode")
        if mode is not None and not (isinstance(mode, str) and re.fullmatch(r"0[0-7]{3}", mode)):
            check.fail(f"{key}:mode", "expected a quoted octal mode like '0644'")
