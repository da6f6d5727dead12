"""Normalise MAAS configuration values so a comparison converges.

MAAS stores some settings in a canonical form different from what a user writes: IP and host
lists are split on commas and/or whitespace and stored space-separated, ``remote_syslog``
gets ``:514`` appended, booleans come back as JSON ``true``/``false`` (and MAAS reads any
string other than ``true``/``false`` as *true*), choice fields come back as strings once set
while their defaults may be integers. Comparing raw strings therefore reports "changed"
forever; comparing the values below does not.
"""

from __future__ import annotations

import re

LIST_KEYS = frozenset({"upstream_dns", "ntp_servers", "dns_trusted_acl"})
BOOL_KEYS = frozenset(
    {
        "allow_only_trusted_transfers",
        "ntp_external_only",
        "enable_http_proxy",
        "use_peer_proxy",
        "prefer_v4_proxy",
        "use_rack_proxy",
        "enlist_commissioning",
        "boot_images_auto_import",
        "boot_images_no_proxy",
        "completed_intro",
        "enable_analytics",
        "release_notifications",
        "enable_kernel_crash_dump",
        "enable_third_party_drivers",
        "enable_disk_erasing_on_release",
        "disk_erase_with_secure_erase",
        "disk_erase_with_quick_erase",
        "curtin_verbose",
        "force_v1_network_yaml",
        "prometheus_enabled",
        "promtail_enabled",
        "tls_cert_expiration_notification_enabled",
        "auto_vlan_creation",
        "http_boot",
    }
)
INT_KEYS = frozenset(
    {
        "default_dns_ttl",
        "maas_syslog_port",
        "maas_proxy_port",
        "max_node_commissioning_results",
        "max_node_testing_results",
        "max_node_installation_results",
        "max_node_release_results",
        "subnet_ip_exhaustion_threshold_count",
        "node_timeout",
        "prometheus_push_interval",
        "promtail_port",
        "tls_cert_expiration_notification_interval",
        "session_length",
    }
)
# Settings that live outside the API (regiond.conf / secret store): set_config refuses them.
NOT_API_KEYS = frozenset({"maas_url", "rpc_shared_secret", "uuid", "omapi_key"})
TRUE_WORDS = frozenset({"true", "yes", "on", "1"})
FALSE_WORDS = frozenset({"false", "no", "off", "0", ""})
SYSLOG_DEFAULT_PORT = 514
_LIST_SPLIT = re.compile(r"[,\s]+")


def to_bool(name: str, value) -> bool:
    """The user's intent as a bool; ValueError for anything ambiguous."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if value is None:
        return False
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"{name}: expected a boolean (true/false), got {value!r}")


def split_list(value) -> list[str]:
    """A list setting given as a list or as a comma/space separated string."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        items = []
        for item in value:
            items.extend(split_list(item))
        return items
    return [item for item in _LIST_SPLIT.split(str(value).strip()) if item]


def syslog_with_port(value) -> str | None:
    """``host`` -> ``host:514``; ``host:port`` and ``[v6]:port`` are kept; empty -> None."""
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    if text.startswith("["):
        return text if re.search(r"\]:\d+$", text) else f"{text}:{SYSLOG_DEFAULT_PORT}"
    if text.count(":") > 1:  # bare IPv6 address: MAAS brackets it
        return f"[{text}]:{SYSLOG_DEFAULT_PORT}"
    if re.search(r":\d+$", text):
        return text
    return f"{text}:{SYSLOG_DEFAULT_PORT}"


def normalize(name: str, value):
    """The canonical form of a setting, for comparison (wanted and current alike).

    Lists become one space-separated string (order kept), booleans real bools, integers
    ints, ``remote_syslog`` gets its port, empty strings and None are the same (None).
    Anything else is compared as a string.
    """
    if name in BOOL_KEYS:
        return to_bool(name, value)
    if name in LIST_KEYS:
        joined = " ".join(split_list(value))
        return joined or None
    if name == "remote_syslog":
        return syslog_with_port(value)
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    if name in INT_KEYS:
        try:
            return int(str(value).strip())
        except ValueError:
            raise ValueError(f"{name}: expected a whole number, got {value!r}") from None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip() if not isinstance(value, str) else value.strip()


def to_wire(name: str, value) -> str:
    """The string to send as ``value=`` to ``set_config`` (booleans as literal true/false)."""
    canonical = normalize(name, value)
    if canonical is None:
        return ""
    if isinstance(canonical, bool):
        return "true" if canonical else "false"
    return str(canonical)


def validate_name(name) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError("name: a MAAS configuration key is required")
    if name in NOT_API_KEYS:
        raise ValueError(
            f"{name} is not a MAAS API setting: it lives in regiond.conf (region) or "
            "rackd.conf (rack); set it with maas.region_initialized / 'maas config --maas-url'"
        )
    return name.strip()


def diff(wanted: dict, current: dict) -> dict:
    """``{name: {"old": current, "new": wanted}}`` for every setting that differs."""
    changes = {}
    for name, value in wanted.items():
        new = normalize(name, value)
        old = normalize(name, current.get(name))
        if new != old:
            changes[name] = {"old": old, "new": new}
    return changes
