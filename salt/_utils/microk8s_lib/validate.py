"""Argument checks run before any command: each raises ``ValueError`` naming the argument.

The execution module turns ``ValueError`` into ``SaltInvocationError``. Messages never
include a token's value.
"""

from __future__ import annotations

import ipaddress
import math
import re

from microk8s_lib import constants

_TRACK_RE = re.compile(r"^(latest|\d+\.\d+(-strict|-eksd|-classic)?)$")
_ADDON_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_REPO_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_HEX_RE = re.compile(r"^[0-9a-fA-F]+$")
_DNS_NAME_RE = re.compile(
    r"^(?=.{1,253}$)(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)"
    r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
_NODE_NAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")


def channel(value) -> str:
    """Return a snap channel ``[track/]risk[/branch]`` or ``track``; raise ``ValueError``."""
    if not isinstance(value, str) or not value or value != value.strip():
        raise ValueError(f"channel: expected a snap channel like '1.32/stable', got {value!r}")
    parts = value.split("/")
    if len(parts) > 3:
        raise ValueError(f"channel: too many '/' in {value!r} (track/risk[/branch])")
    if len(parts) == 1:
        if parts[0] in constants.CHANNEL_RISKS or _TRACK_RE.match(parts[0]):
            return value
        raise ValueError(
            f"channel: {value!r} is neither a track like '1.32' nor a risk "
            f"({', '.join(constants.CHANNEL_RISKS)})"
        )
    track, risk = parts[0], parts[1]
    if not _TRACK_RE.match(track):
        raise ValueError(f"channel: track {track!r} is not like '1.32', '1.32-strict' or 'latest'")
    if risk not in constants.CHANNEL_RISKS:
        raise ValueError(
            f"channel: risk {risk!r} is not one of {', '.join(constants.CHANNEL_RISKS)}"
        )
    if len(parts) == 3 and not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", parts[2]):
        raise ValueError(f"channel: branch {parts[2]!r} is not a valid branch name")
    return value


def is_strict_channel(value: str) -> bool:
    """Strict-confinement builds live on ``<x.y>-strict`` tracks and take no ``--classic``."""
    return value.split("/", maxsplit=1)[0].endswith("-strict")


def token(value, argument: str = "token") -> str:
    """Return a join token usable by ``add-node --token`` and ``join``; raise ``ValueError``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        # An all-digit token in unquoted YAML arrives as a number (leading zeros lost).
        raise ValueError(
            f"{argument}: got a number, not a string: quote the token in the SLS/pillar "
            "(e.g. with the yaml_dquote filter)"
        )
    if not isinstance(value, str):
        raise ValueError(f"{argument}: expected a string, got {type(value).__name__}")
    if len(value) < constants.MIN_TOKEN_LENGTH:
        raise ValueError(
            f"{argument}: a join token needs at least {constants.MIN_TOKEN_LENGTH} characters "
            f"(got {len(value)})"
        )
    for forbidden in ("/", "|"):
        if forbidden in value:
            raise ValueError(
                f"{argument}: a join token must not contain {forbidden!r} "
                "(it separates the fields of join URLs and of the token file)"
            )
    if any(char.isspace() for char in value) or not value.isprintable():
        raise ValueError(f"{argument}: a join token must not contain spaces or control characters")
    # The add-node wrapper prints its help and exits 0 when any argument contains "help".
    if "help" in value:
        raise ValueError(
            f"{argument}: a join token must not contain 'help' (microk8s add-node would "
            "print its help instead of registering it)"
        )
    return value


def fingerprint(value, argument: str = "fingerprint") -> str:
    """Return a join CHECK (at least 12 hex characters); raise ``ValueError``."""
    if not isinstance(value, str) or len(value) < constants.MIN_CHECK_LENGTH:
        raise ValueError(
            f"{argument}: expected at least {constants.MIN_CHECK_LENGTH} hex characters "
            f"(the CHECK part of a join URL), got {value!r}"
        )
    if not _HEX_RE.match(value):
        raise ValueError(f"{argument}: {value!r} is not hexadecimal")
    return value.lower()


def ipv4(value, argument: str) -> str:
    """Return an IPv4 literal; raise ``ValueError`` (``microk8s join`` rejects anything else)."""
    try:
        return str(ipaddress.IPv4Address(str(value)))
    except ValueError:
        raise ValueError(
            f"{argument}: {value!r} is not an IPv4 address (microk8s join takes IPv4 literals "
            "only, no hostnames or IPv6)"
        ) from None


def port(value, argument: str) -> int:
    try:
        number = int(str(value), 10)
    except ValueError:
        raise ValueError(f"{argument}: port {value!r} is not a number") from None
    if not 1 <= number <= 65535:
        raise ValueError(f"{argument}: port {number} is not in range 1-65535")
    return number


def address(value, argument: str = "name", default_port: int = constants.CLUSTER_AGENT_PORT):
    """Return ``(ip, port)`` from ``IP`` or ``IP:PORT``; raise ``ValueError``."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{argument}: expected 'IP[:PORT]', got {value!r}")
    if value.count(":") > 1:
        raise ValueError(f"{argument}: {value!r} looks like IPv6; microk8s join takes IPv4 only")
    host, _, port_text = value.partition(":")
    ip = ipv4(host, argument)
    return ip, port(port_text, argument) if port_text else default_port


def connection(value, argument: str = "connection") -> dict:
    """Split ``IP:PORT/TOKEN[/CHECK]``; raise ``ValueError`` without echoing the token."""
    if not isinstance(value, str):
        raise ValueError(f"{argument}: expected 'IP:PORT/TOKEN[/CHECK]'")
    parts = value.split("/")
    if len(parts) not in (2, 3):
        raise ValueError(f"{argument}: expected 'IP:PORT/TOKEN[/CHECK]' ({len(parts)} parts)")
    host_port = parts[0]
    if host_port.count(":") != 1:
        raise ValueError(f"{argument}: expected 'IP:PORT' before the token (IPv4 only)")
    host, port_text = host_port.split(":")
    ip = ipv4(host, argument)
    port_number = port(port_text, argument)
    token(parts[1], argument=f"{argument} (token part)")
    check = fingerprint(parts[2], f"{argument} (check part)") if len(parts) == 3 else None
    return {"ip": ip, "port": port_number, "token": parts[1], "check": check}


def ttl(value, argument: str = "ttl"):
    """Return a token TTL in seconds (None or -1: single use); raise ``ValueError``."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"{argument}: expected seconds, got {value!r}")
    try:
        seconds = int(str(value), 10)
    except ValueError:
        raise ValueError(f"{argument}: expected a number of seconds, got {value!r}") from None
    if seconds == -1:
        return None
    if seconds <= 0:
        raise ValueError(f"{argument}: must be a positive number of seconds or -1 (single use)")
    return seconds


def addon(name, *, known_repositories=None) -> tuple[str | None, str]:
    """Return ``(repository or None, name)`` for ``[repo/]name``; raise ``ValueError``.

    Unqualified names and names in the ``core``/``community`` repositories must be in the
    catalogue; names in other repositories (``microk8s addons repo add``) only need to be
    well formed.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name: expected an addon name like 'dns' or 'core/dns', got {name!r}")
    if ":" in name:
        raise ValueError(f"name: {name!r}: pass addon arguments with 'args', not 'name:arg'")
    repository, _, addon_name = name.rpartition("/")
    repository = repository or None
    if repository is not None and not _REPO_NAME_RE.match(repository):
        raise ValueError(f"name: {repository!r} is not a valid addon repository name")
    if not _ADDON_NAME_RE.match(addon_name):
        raise ValueError(f"name: {addon_name!r} is not a valid addon name")
    extra = set(known_repositories or ())
    if repository == "core" and addon_name not in constants.CORE_ADDONS:
        raise ValueError(f"name: unknown addon {name!r}: not in the core repository")
    if repository == "community" and addon_name not in constants.COMMUNITY_ADDONS:
        raise ValueError(f"name: unknown addon {name!r}: not in the community repository")
    if (
        repository is None
        and addon_name not in constants.CORE_ADDONS
        and addon_name not in constants.COMMUNITY_ADDONS
        and addon_name not in extra
    ):
        raise ValueError(
            f"name: unknown addon {name!r}; known core addons: "
            f"{', '.join(sorted(constants.CORE_ADDONS))} (community addons need the "
            "'community' addon enabled first; other repositories: use 'repo/name')"
        )
    return repository, addon_name


HELP_FLAGS = ("-h", "--help")


def addon_args(value) -> list[str]:
    """Return addon arguments as a list of strings (flag style); raise ``ValueError``."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"args: expected a string or a list of strings, got {value!r}")
    result = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise ValueError(f"args: {item!r} is not a string")
        text = str(item)
        if not text or "\n" in text or "\x00" in text:
            raise ValueError(f"args: {text!r} is empty or contains a newline")
        if text in HELP_FLAGS:
            # scripts/wrappers/common/utils.py check_help_flag: any -h/--help among the
            # arguments prints a help text, enables nothing and exits 0.
            raise ValueError(
                f"args: {text!r} makes microk8s print a help text and change nothing (exit 0); "
                "see https://microk8s.io/docs/addons for the addon's arguments"
            )
        result.append(text)
    return result


def cert(value) -> str:
    if value not in constants.CERT_NAMES:
        raise ValueError(f"cert: {value!r} is not one of {', '.join(constants.CERT_NAMES)}")
    return value


def san(value) -> tuple[str, str]:
    """Return ``("IP"|"DNS", value)`` for an extra SAN; raise ``ValueError``."""
    if not isinstance(value, str) or not value or value != value.strip():
        raise ValueError(f"value: expected an IP address or a DNS name, got {value!r}")
    try:
        return "IP", str(ipaddress.ip_address(value))
    except ValueError:
        pass
    if _DNS_NAME_RE.match(value) and not re.match(r"^[\d.]+$", value):
        return "DNS", value.lower()
    raise ValueError(f"value: {value!r} is neither an IP address nor a DNS name")


def node(value) -> str:
    """Return a node name or IP for ``remove-node``; raise ``ValueError``."""
    if not isinstance(value, str) or not _NODE_NAME_RE.match(value):
        raise ValueError(f"node: {value!r} is not a Kubernetes node name or an IP address")
    if value.startswith("-"):
        raise ValueError(f"node: {value!r} must not start with '-'")
    return value


def seconds(value, argument: str, minimum: float = 0, maximum: float | None = None) -> float:
    """Return a finite number of seconds in ``minimum..maximum``; raise ``ValueError``."""
    try:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise TypeError
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{argument}: expected a number of seconds, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{argument}: expected a number of seconds, got {value!r}")
    if number < minimum or (maximum is not None and number > maximum):
        bound = "" if maximum is None else f"{maximum:g}"
        raise ValueError(f"{argument}: {value} is out of range {minimum:g}..{bound}")
    return number


def whole_number(value, argument: str, minimum: int = 0, maximum: int | None = None) -> int:
    """Return an integer in ``minimum..maximum`` (digits in a string too); raise ``ValueError``."""
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{argument}: expected a whole number, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        raise ValueError(
            f"{argument}: {value} is out of range {minimum}..{'' if maximum is None else maximum}"
        )
    return value


_TOKEN_SHAPED_RE = re.compile(rf"^[A-Za-z0-9]{{{constants.MIN_TOKEN_LENGTH},}}$")


def looks_like_token(value) -> bool:
    """True for a value shaped like a join token: 32+ letters and digits with no separator
    (``add-node`` prints 32 hex characters; minion ids and node names have dots or dashes)."""
    return isinstance(value, str) and _TOKEN_SHAPED_RE.match(value) is not None
