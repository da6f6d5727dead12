"""Validation of the kubesalt pillar, run while ``map.jinja`` renders, before any state runs.

Every problem is reported as ``<pillar key>: <what is wrong>`` so an operator knows which
layer of the pillar to fix. Values that may be secret (tokens, file contents) are never
quoted in a message.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import posixpath
import re

from microk8s_lib import constants as microk8s_constants
from microk8s_lib import validate as microk8s_validate

# DNS names made of lowercase labels. The pillar top file uses the same pattern and length
# (Jinja cannot import this module; tests/unit/utils/cluster_lib/test_cluster_lib.py holds them
# equal): an id outside it could carry fnmatch characters (*, ?, [) into pillar SLS names
# and read other hosts' files.
MINION_ID_PATTERN = (
    r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?([.][a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*)$"
)
_MINION_ID_RE = re.compile(MINION_ID_PATTERN)
MAX_ID_LENGTH = 253
_USER_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
# Locale names as glibc spells them: language[_territory][.codeset][@modifier], C, POSIX.
_LOCALE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*([.][A-Za-z0-9_-]+)?(@[A-Za-z0-9_]+)?$")
# Init script / unit names.
_SERVICE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9@._:-]*$")
# Paths that go into a shell command line or a configuration file unquoted.
_PLAIN_PATH_RE = re.compile(r"^/[A-Za-z0-9._+/-]*$")
# Kernel settings: dot-separated components (a '/' stands for a dot inside one, as in
# sysctl(8): net.ipv4.conf.eth0/100.rp_filter).
_SYSCTL_RE = re.compile(r"^[A-Za-z0-9_-]+([.][A-Za-z0-9_/-]+)+$")
# An authorized_keys line: [options] type base64-blob [comment] (ssh_auth.manage's grammar).
_SSH_KEY_RE = re.compile(
    r"^(?:(?P<options>\S.*?)\s+)?"
    r"(?P<type>(?:sk-)?(?:ssh-[a-z0-9@.-]+|ecdsa-sha2-nistp(?:256|384|521)(?:@openssh\.com)?))"
    r"\s+(?P<blob>[A-Za-z0-9+/]+={0,3})(?:\s+(?P<comment>.*))?$"
)
_FAIL2BAN_BACKENDS = ("auto", "polling", "pyinotify", "systemd", "gamin")
_SALT_LOG_LEVELS = (
    "all", "garbage", "trace", "debug", "profile", "info", "warning", "error", "critical", "quiet",
)  # fmt: skip
# Keys whose text may span lines, besides kubesalt:files:<path>:contents (everything else is
# one line: a newline in it could add lines to a configuration file the value is written into).
_MULTILINE_KEYS = ("kubesalt:motd:issue", "kubesalt:motd:message")

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


def _multiline(parent, key):
    return f"{parent}:{key}" in _MULTILINE_KEYS or (
        parent.startswith("kubesalt:files:") and key == "contents"
    )


def _has_control(text, allow_newline):
    allowed = {"\t", "\n"} if allow_newline else set()
    return any((not char.isprintable() and char != " " and char not in allowed) for char in text)


def _printable(text):
    """A key for a message: control characters escaped (a raw newline would split it)."""
    return text.encode("unicode_escape").decode("ascii")


def ssh_key_problem(line):
    """Return why ``line`` is not an authorized_keys line, or None when it is one."""
    if not isinstance(line, str) or not line.strip():
        return "an empty SSH key"
    match = _SSH_KEY_RE.fullmatch(line.strip())
    if match is None:
        return (
            "not an SSH public key line ('<type> <base64 key> [comment]', e.g. ssh-ed25519 AAAA...)"
        )
    try:
        blob = base64.b64decode(match["blob"], validate=True)
    except (binascii.Error, ValueError):
        return f"the {match['type']} key is not valid base64"
    # The blob starts with the key type as an SSH string: uint32 length, then the name.
    size = int.from_bytes(blob[:4], "big") if len(blob) >= 4 else -1
    if size < 0 or blob[4 : 4 + size] != match["type"].encode():
        return f"the key data is not a {match['type']} key (copy the whole .pub line)"
    return None


def sysctl_path(name):
    """``/proc/sys`` path of a kernel setting (dots are separators, '/' stands for a dot)."""
    return "/proc/sys/" + name.translate(str.maketrans("./", "/."))


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

    def integer(self, value, key, minimum=None, maximum=None):
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"expected a whole number, got {value!r}")
            return None
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            low = "" if minimum is None else minimum
            high = "" if maximum is None else maximum
            self.fail(key, f"{value} is out of range ({low}..{high})")
            return None
        return value

    def pattern(self, value, key, regex, what):
        if isinstance(value, str) and _has_control(value, allow_newline=False):
            return False  # reported once, by text()
        if not isinstance(value, str) or not regex.fullmatch(value):
            self.fail(key, f"{value!r} is not {what}")
            return False
        return True

    def text(self, value, key, multiline=False):
        """Every key and string below ``value``: no control characters (newlines only where
        ``multiline``). The problem names the key; the value is not quoted (it may be secret)."""
        if isinstance(value, dict):
            for child_key, child in value.items():
                child_path = f"{key}:{child_key}"
                if isinstance(child_key, str) and _has_control(child_key, allow_newline=False):
                    self.fail(
                        _printable(child_path),
                        "the key contains a newline or another control character",
                    )
                    continue
                self.text(child, child_path, multiline or _multiline(key, child_key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.text(item, f"{key}:{index}", multiline)
        elif isinstance(value, str) and _has_control(value, allow_newline=multiline):
            self.fail(key, "contains a newline or another control character (one line expected)")

    def dns_name(self, value, key):
        if not minion_id_ok(value):
            self.fail(key, f"{value!r} is not a lowercase DNS name")
            return False
        return True


def validate(config, minion_id, sysctl_exists=None) -> None:
    """Check the merged ``kubesalt`` data (defaults + pillar) and the minion id.

    ``sysctl_exists(name)`` tells whether this host's kernel has a setting (None: not
    checked). Raise :class:`PillarError` listing every problem found; return None when all
    is well.
    """
    check = _Checker()
    if not minion_id_ok(minion_id):
        check.fail(
            "minion id",
            f"{minion_id!r} does not match {MINION_ID_PATTERN} (lowercase DNS labels): "
            "its host and domain pillar layers are not read",
        )
    config = check.mapping(config, "kubesalt", required=True)
    check.text(config, "kubesalt")
    _check_inventory(check, config)
    _check_microk8s(check, config)
    _check_core(check, config, sysctl_exists)
    _check_bastion(check, config)
    _check_master(check, config)
    if check.problems:
        raise PillarError(check.problems)


# The hosts' networks and MicroK8s' pod (Calico pool, cluster CIDR) and service networks.
NETWORK_KEYS = ("public_cidr", "private_cidr", "pod_cidr", "service_cidr")


def _check_overlaps(check, cidrs):
    """No two of the four networks may overlap (a pod or service address would shadow a
    host's)."""
    known = [(name, net) for name, net in cidrs.items() if net is not None]
    for index, (name, net) in enumerate(known):
        for other, other_net in known[index + 1 :]:
            if net.overlaps(other_net):
                check.fail(
                    f"kubesalt:networks:{other}",
                    f"{other_net} overlaps kubesalt:networks:{name} ({net}); choose networks "
                    "that do not overlap",
                )


def _check_inventory(check, config):
    if config.get("domain") is not None:
        check.dns_name(config["domain"], "kubesalt:domain")
    if config.get("salt_master") is not None:
        check.dns_name(config["salt_master"], "kubesalt:salt_master")
    networks = check.mapping(config.get("networks"), "kubesalt:networks")
    cidrs = {}
    for name in NETWORK_KEYS:
        if networks.get(name) is not None:
            cidrs[name] = check.network(networks[name], f"kubesalt:networks:{name}")
    _check_overlaps(check, cidrs)
    _check_nodes(check, config, cidrs)


def _check_nodes(check, config, cidrs):
    """``kubesalt:nodes``: names, roles, addresses inside their networks and used once."""
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
    _check_members(check, config, microk8s)
    if microk8s.get("floating_ip") is not None:
        check.address(microk8s["floating_ip"], "kubesalt:microk8s:floating_ip")
    for index, value in enumerate(
        check.string_list(microk8s.get("extra_sans"), "kubesalt:microk8s:extra_sans")
    ):
        try:
            microk8s_validate.san(value)
        except ValueError as err:
            check.fail(f"kubesalt:microk8s:extra_sans:{index}", str(err).removeprefix("value: "))
    if microk8s.get("api_address") is not None:
        try:
            microk8s_validate.san(microk8s["api_address"])
        except ValueError as err:
            check.fail("kubesalt:microk8s:api_address", str(err).removeprefix("value: "))
    if microk8s.get("channel") is not None:
        try:
            microk8s_validate.channel(microk8s["channel"])
        except ValueError as err:
            check.fail("kubesalt:microk8s:channel", str(err).removeprefix("channel: "))
    ttl = microk8s.get("token_ttl")
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int) or ttl <= 0):
        check.fail("kubesalt:microk8s:token_ttl", f"expected a number of seconds > 0, got {ttl!r}")
    turn = microk8s.get("join_turn_timeout")
    if turn is not None and (isinstance(turn, bool) or not isinstance(turn, int) or turn <= 0):
        check.fail(
            "kubesalt:microk8s:join_turn_timeout",
            f"expected a number of seconds > 0, got {turn!r}",
        )
    _check_addons(check, microk8s)


def _check_addons(check, microk8s):
    """``kubesalt:microk8s:addons``: known names, arguments where an addon needs them."""
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
            args = check.string_list(wanted.get("args"), f"{key}:args")
            try:
                microk8s_validate.addon_args(args)
            except ValueError as err:
                check.fail(f"{key}:args", str(err).removeprefix("args: "))
            enabled = wanted.get("enabled", True) is True
        elif not isinstance(wanted, bool):
            check.fail(key, "expected true, false or {enabled: ..., args: [...]}")
            continue
        else:
            args, enabled = [], wanted
        needs = microk8s_constants.ADDONS_NEEDING_ARGS.get(name.rpartition("/")[2])
        if enabled and needs and not any(arg.strip() for arg in args):
            check.fail(
                f"{key}:args",
                f"this addon needs arguments ({needs}); without them its enable hook "
                "waits for an answer on stdin and fails: set {enabled: true, args: [...]}",
            )


def _check_members(check, config, microk8s):
    """Control planes and workers: listed once, each a node with the matching role."""
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


def _check_core(check, config, sysctl_exists=None):
    locale = config.get("locale")
    if locale is not None:
        check.pattern(locale, "kubesalt:locale", _LOCALE_RE, "a locale name like C.UTF-8")
    _check_sysctl(check, config, sysctl_exists)
    limits = check.mapping(config.get("limits"), "kubesalt:limits")
    if limits.get("nofile") is not None:
        check.integer(limits["nofile"], "kubesalt:limits:nofile", minimum=1024)
    _check_sshd(check, config)
    minion = check.mapping(config.get("minion"), "kubesalt:minion")
    if minion.get("service") is not None:
        check.pattern(minion["service"], "kubesalt:minion:service", _SERVICE_RE, "a service name")
    check.boolean(minion.get("manage_service"), "kubesalt:minion:manage_service")
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
    _check_users(check, config)
    _check_files(check, config)


def _check_files(check, config):
    """``kubesalt:files``: absolute paths, one of source or contents, quoted modes."""
    files = check.mapping(config.get("files"), "kubesalt:files")
    for path, raw_spec in sorted(files.items(), key=lambda item: str(item[0])):
        key = _printable(f"kubesalt:files:{path}")
        if not isinstance(path, str) or not posixpath.isabs(path) or ".." in path.split("/"):
            check.fail(key, "the key must be an absolute path without '..'")
        elif _has_control(path, allow_newline=False):
            continue  # reported by check.text
        spec = check.mapping(raw_spec, key)
        if ("source" in spec) == ("contents" in spec):
            check.fail(key, "give exactly one of 'source' (salt://...) or 'contents'")
        mode = spec.get("mode")
        if mode is not None and not (isinstance(mode, str) and re.fullmatch(r"0[0-7]{3}", mode)):
            check.fail(f"{key}:mode", "expected a quoted octal mode like '0644'")
        for owner in ("user", "group"):
            if spec.get(owner) is not None:
                check.pattern(spec[owner], f"{key}:{owner}", _USER_RE, f"a {owner} name")
        if spec.get("source") is not None and not (
            isinstance(spec["source"], str) and re.match(r"^[a-z0-9+]+://\S+$", spec["source"])
        ):
            check.fail(f"{key}:source", "expected a URL like salt://files/name")
        if spec.get("contents") is not None and not isinstance(spec["contents"], str):
            check.fail(f"{key}:contents", "expected a string")
        check.boolean(spec.get("secret"), f"{key}:secret")


def _check_users(check, config):
    """``kubesalt:users``: valid names, each present user with at least one good SSH key."""
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
        for index, line in enumerate(keys):
            problem = ssh_key_problem(line)
            if problem:
                check.fail(f"{key}:ssh_keys:{index}", problem)
        check.boolean(user.get("sudo"), f"{key}:sudo")
        if user.get("shell") is not None:
            check.pattern(
                user["shell"], f"{key}:shell", _PLAIN_PATH_RE, "an absolute path like /bin/bash"
            )
        for index, group in enumerate(check.string_list(user.get("groups"), f"{key}:groups")):
            check.pattern(group, f"{key}:groups:{index}", _USER_RE, "a group name")


def _check_sshd(check, config):
    sshd = check.mapping(config.get("sshd"), "kubesalt:sshd")
    if sshd.get("port") is not None:
        check.integer(sshd["port"], "kubesalt:sshd:port", minimum=1, maximum=65535)
    if sshd.get("service") is not None:
        check.pattern(sshd["service"], "kubesalt:sshd:service", _SERVICE_RE, "a service name")
    check.boolean(sshd.get("allow_tcp_forwarding"), "kubesalt:sshd:allow_tcp_forwarding")
    for index, user in enumerate(
        check.string_list(sshd.get("allow_users"), "kubesalt:sshd:allow_users")
    ):
        if _has_control(user, allow_newline=False):
            continue  # reported by text()
        if not user or (" " in user or "\t" in user):
            check.fail(f"kubesalt:sshd:allow_users:{index}", "expected a user name (no spaces)")
    for index, address in enumerate(
        check.string_list(sshd.get("listen_addresses"), "kubesalt:sshd:listen_addresses")
    ):
        if _has_control(address, allow_newline=False):
            continue  # reported by text()
        if not address or any(char.isspace() for char in address):
            check.fail(f"kubesalt:sshd:listen_addresses:{index}", "expected an address (no spaces)")


def _check_sysctl(check, config, sysctl_exists):
    """``kubesalt:sysctl``: setting names this host's kernel has, plain values."""
    sysctl = check.mapping(config.get("sysctl"), "kubesalt:sysctl")
    for name, value in sorted(sysctl.items(), key=lambda item: str(item[0])):
        key = f"kubesalt:sysctl:{name}"
        if not isinstance(name, str) or not _SYSCTL_RE.fullmatch(name) or ".." in name:
            check.fail(_printable(str(key)), "not a kernel setting name like net.ipv4.ip_forward")
            continue
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, str))):
            check.fail(key, f"expected a number, a string or null, got {value!r}")
        if value is not None and sysctl_exists is not None and not sysctl_exists(name):
            check.fail(
                key,
                f"unknown kernel setting: this host has no {sysctl_path(name)} (a typo, or "
                "its kernel module is not loaded); null leaves a setting alone",
            )


def _check_bastion(check, config):
    bastion = check.mapping(config.get("bastion"), "kubesalt:bastion")
    check.string_list(bastion.get("packages"), "kubesalt:bastion:packages")
    check.boolean(bastion.get("allow_icmp"), "kubesalt:bastion:allow_icmp")
    fail2ban = check.mapping(bastion.get("fail2ban"), "kubesalt:bastion:fail2ban")
    key = "kubesalt:bastion:fail2ban"
    if fail2ban.get("service") is not None:
        check.pattern(fail2ban["service"], f"{key}:service", _SERVICE_RE, "a service name")
    check.boolean(fail2ban.get("enable"), f"{key}:enable")
    if fail2ban.get("backend") is not None and fail2ban["backend"] not in _FAIL2BAN_BACKENDS:
        check.fail(f"{key}:backend", f"expected one of {', '.join(_FAIL2BAN_BACKENDS)}")
    if fail2ban.get("logpath") is not None:
        check.pattern(fail2ban["logpath"], f"{key}:logpath", _PLAIN_PATH_RE, "an absolute path")
    for name, minimum in (("bantime", -1), ("findtime", 1), ("maxretry", 1)):
        if fail2ban.get(name) is not None:
            check.integer(fail2ban[name], f"{key}:{name}", minimum=minimum)


def _check_master(check, config):
    master = check.mapping(config.get("master"), "kubesalt:master")
    key = "kubesalt:master"
    if master.get("service") is not None:
        check.pattern(master["service"], f"{key}:service", _SERVICE_RE, "a service name")
    # Written unquoted into the master's configuration (master.d/kubesalt.conf).
    for name in ("config_file", "join_secret_file"):
        if master.get(name) is not None:
            check.pattern(
                master[name], f"{key}:{name}", _PLAIN_PATH_RE,
                "an absolute path of letters, digits and . _ + - /",
            )  # fmt: skip
    for name in ("file_roots", "pillar_roots"):
        for index, root in enumerate(check.string_list(master.get(name), f"{key}:{name}")):
            check.pattern(root, f"{key}:{name}:{index}", _PLAIN_PATH_RE, "an absolute path")
    level = master.get("log_level_logfile")
    if level is not None and level not in _SALT_LOG_LEVELS:
        check.fail(f"{key}:log_level_logfile", f"expected one of {', '.join(_SALT_LOG_LEVELS)}")
    if master.get("user") is not None:
        check.pattern(master["user"], f"{key}:user", _USER_RE, "a user name")
    if master.get("worker_threads") is not None:
        check.integer(master["worker_threads"], f"{key}:worker_threads", minimum=1)
    backup = check.mapping(master.get("backup"), f"{key}:backup")
    if backup.get("directory") is not None:
        check.pattern(
            backup["directory"], f"{key}:backup:directory", _PLAIN_PATH_RE, "an absolute path"
        )
    for name, minimum in (("keep", 1), ("interval_hours", 0), ("max_size_mb", 1)):
        if backup.get(name) is not None:
            check.integer(backup[name], f"{key}:backup:{name}", minimum=minimum)


# ---- The `maas` pillar (salt/states/maas/map.jinja) ----
_PG_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_MAAS_INIT_MODES = ("region", "region+rack")
_RACK_METHODS = ("deb", "snap")


def validate_maas(config) -> None:
    """Check the merged ``maas`` data (maas/defaults.yaml + pillar).

    Raise :class:`PillarError` listing every problem as ``maas:<key>: <message>``; values
    that may be secret (passwords, the shared secret, the API key) are never quoted.
    """
    check = _Checker()
    config = check.mapping(config, "maas", required=True)
    check.text(config, "maas")
    _check_maas_db(check, config)
    region = check.mapping(config.get("region"), "maas:region")
    url = region.get("maas_url")
    if url not in (None, "") and not (
        isinstance(url, str) and re.fullmatch(r"https?://[^\s/]+(/\S*)?", url)
    ):
        check.fail(
            "maas:region:maas_url", "expected an http(s):// URL like http://10.0.0.5:5240/MAAS"
        )
    if region.get("mode") is not None and region["mode"] not in _MAAS_INIT_MODES:
        check.fail("maas:region:mode", f"expected one of {', '.join(_MAAS_INIT_MODES)}")
    admin = check.mapping(config.get("admin"), "maas:admin")
    if admin.get("username") is not None:
        check.pattern(
            admin["username"],
            "maas:admin:username",
            re.compile(r"[A-Za-z0-9_.@+-]+"),
            "a user name",
        )
    _check_maas_rack(check, config)
    selections = config.get("selections")
    if selections is not None and not isinstance(selections, list):
        check.fail("maas:selections", "expected a list of {os, release, arches, ...}")
        selections = []
    for index, raw_selection in enumerate(selections or []):
        key = f"maas:selections:{index}"
        selection = check.mapping(raw_selection, key, required=True)
        if not isinstance(selection.get("release"), str) or not selection.get("release"):
            check.fail(f"{key}:release", "required: a release name like noble")
        for name in ("arches", "subarches", "labels"):
            check.string_list(selection.get(name), f"{key}:{name}")
    sync = check.mapping(config.get("sync"), "maas:sync")
    for name in ("timeout", "poll_max"):
        value = sync.get(name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0
        ):
            check.fail(f"maas:sync:{name}", f"expected a number of seconds > 0, got {value!r}")
    for name in ("settings", "image_settings"):
        check.mapping(config.get(name), f"maas:{name}")
    if check.problems:
        raise PillarError(check.problems)


def _check_maas_rack(check, config):
    rack = check.mapping(config.get("rack"), "maas:rack")
    if rack.get("url") not in (None, "") and not (
        isinstance(rack["url"], str) and re.fullmatch(r"https?://[^\s/]+(/\S*)?", rack["url"])
    ):
        check.fail("maas:rack:url", "expected an http(s):// URL")
    secret = rack.get("secret")
    if secret not in (None, "") and not (
        isinstance(secret, str) and re.fullmatch(r"[0-9a-fA-F]+", secret)
    ):
        check.fail("maas:rack:secret", "expected the region's shared secret in hex (quote it)")
    if rack.get("method") is not None and rack["method"] not in _RACK_METHODS:
        check.fail("maas:rack:method", f"expected one of {', '.join(_RACK_METHODS)}")
    if rack.get("timeout") is not None:
        check.integer(rack["timeout"], "maas:rack:timeout", minimum=1)


def _check_maas_db(check, config):
    db = check.mapping(config.get("db"), "maas:db")
    for name in ("name", "user"):
        if db.get(name) is not None:
            check.pattern(db[name], f"maas:db:{name}", _PG_NAME_RE, "a PostgreSQL name")
    password = db.get("password")
    if password is not None:
        if not isinstance(password, str):
            check.fail("maas:db:password", "expected a string (quote it)")
        elif any(char in password for char in "/@:"):
            check.fail(
                "maas:db:password",
                "must not contain '/', '@' or ':' (it goes into the database URI of maas init)",
            )
    if db.get("host") is not None and not (
        isinstance(db["host"], str) and re.fullmatch(r"[A-Za-z0-9._-]+", db["host"])
    ):
        check.fail("maas:db:host", "expected a host name or an IP address")
    if db.get("port") is not None:
        check.integer(db["port"], "maas:db:port", minimum=1, maximum=65535)
    superuser = check.mapping(db.get("superuser"), "maas:db:superuser")
    if superuser.get("db_port") is not None:
        check.integer(superuser["db_port"], "maas:db:superuser:db_port", minimum=1, maximum=65535)
