"""What the simulated image stream offers, and the MAAS settings each version knows."""

from __future__ import annotations

import ipaddress
import re

STREAM_VERSION = "20251101"
DEFAULT_SOURCE_URL = "http://images.maas.io/ephemeral-v3/stable/"
DEFAULT_KEYRING = "/snap/maas/current/usr/share/keyrings/ubuntu-cloudimage-keyring.gpg"
# os -> release -> (version number, supported arches)
STREAM = {
    "ubuntu": {
        "focal": ("20.04", ("amd64", "arm64", "ppc64el", "s390x")),
        "jammy": ("22.04", ("amd64", "arm64", "ppc64el", "s390x")),
        "noble": ("24.04", ("amd64", "arm64", "ppc64el", "s390x")),
    },
    "centos": {"centos70": ("7.0", ("amd64",))},
}
LABELS = ("stable", "candidate")
BOOTLOADERS = (("grub-efi-signed/uefi", "amd64/generic"), ("pxelinux/pxe", "i386/generic"))
# The current LTS per MAAS version: the default commissioning release and default selection.
LTS = {"2.9": "focal", "3.4": "jammy", "3.7": "noble"}


def cache_rows():
    """(os, release, arch, subarch, label) offered by every source."""
    for os_name, releases in STREAM.items():
        for release, (number, arches) in releases.items():
            for arch in arches:
                for subarch in subarches(os_name, number):
                    for label in LABELS:
                        yield os_name, release, arch, subarch, label


def subarches(os_name: str, number: str) -> list[str]:
    if os_name != "ubuntu":
        return ["generic"]
    return [f"ga-{number}", f"hwe-{number}", "generic"]


def image_size(arch: str) -> int:
    return 1_234_000_000 if arch == "amd64" else 987_000_000


# -- settings -----------------------------------------------------------------------------------
# name -> (kind, default, extra). kinds: bool, int, char, required, choice, iplist, hostlist,
# subnetlist, syslog, url, port, os, series, commissioning, kernel
SETTINGS_29 = {
    "maas_name": ("required", "maas", None),
    "theme": None,
    "upstream_dns": ("iplist", None, None),
    "dnssec_validation": ("choice", "auto", ("auto", "yes", "no")),
    "dns_trusted_acl": ("subnetlist", None, None),
    "default_dns_ttl": ("int", 30, (1, None)),
    "maas_internal_domain": ("char", "maas-internal", None),
    "allow_only_trusted_transfers": ("bool", False, None),
    "ntp_servers": ("hostlist", "ntp.ubuntu.com", None),
    "ntp_external_only": ("bool", False, None),
    "remote_syslog": ("syslog", None, None),
    "maas_syslog_port": ("port", 5247, 5247),
    "enable_http_proxy": ("bool", True, None),
    "http_proxy": ("url", None, None),
    "use_peer_proxy": ("bool", False, None),
    "prefer_v4_proxy": ("bool", False, None),
    "maas_proxy_port": ("port", 8000, None),
    "use_rack_proxy": ("bool", True, None),
    "enlist_commissioning": ("bool", True, None),
    "network_discovery": ("choice", "enabled", ("enabled", "disabled")),
    "active_discovery_interval": (
        "choice",
        10800,
        ("0", "604800", "86400", "43200", "21600", "10800", "3600", "1800", "600"),
    ),
    "boot_images_auto_import": ("bool", True, None),
    "boot_images_no_proxy": ("bool", False, None),
    "default_osystem": ("os", "ubuntu", None),
    "default_distro_series": ("series", None, None),
    "commissioning_distro_series": ("commissioning", None, None),
    "default_min_hwe_kernel": ("kernel", "", None),
    "kernel_opts": ("char", None, None),
    "completed_intro": ("bool", False, None),
    "enable_analytics": ("bool", True, None),
    "release_notifications": ("bool", True, None),
    "default_storage_layout": (
        "choice",
        "flat",
        ("bcache", "blank", "custom", "flat", "lvm", "vmfs6", "vmfs7"),
    ),
    "enable_third_party_drivers": ("bool", True, None),
    "windows_kms_host": ("char", None, None),
    "enable_disk_erasing_on_release": ("bool", False, None),
    "disk_erase_with_secure_erase": ("bool", True, None),
    "disk_erase_with_quick_erase": ("bool", False, None),
    "curtin_verbose": ("bool", True, None),
    "force_v1_network_yaml": ("bool", False, None),
    "max_node_commissioning_results": ("int", 10, (1, None)),
    "max_node_testing_results": ("int", 10, (1, None)),
    "max_node_installation_results": ("int", 3, (1, None)),
    "subnet_ip_exhaustion_threshold_count": ("int", 16, (1, None)),
    "node_timeout": ("int", 30, (1, None)),
    "prometheus_enabled": ("bool", False, None),
    "prometheus_push_gateway": ("char", None, None),
    "prometheus_push_interval": ("int", 60, None),
}
SETTINGS_29.pop("theme")
SETTINGS_34 = {
    **SETTINGS_29,
    "theme": ("char", "", None),
    "promtail_enabled": ("bool", False, None),
    "promtail_port": ("int", 5238, None),
    "hardware_sync_interval": ("char", "15m", None),
    "tls_cert_expiration_notification_enabled": ("bool", False, None),
    "tls_cert_expiration_notification_interval": ("int", 30, (1, 90)),
}
SETTINGS_37 = {
    **SETTINGS_34,
    "max_node_release_results": ("int", 3, (1, None)),
    "session_length": ("int", 1209600, (10, 1209600)),
    "auto_vlan_creation": ("bool", True, None),
    "default_boot_interface_link_type": ("choice", "auto", ("auto", "dhcp", "static", "link_up")),
    "enable_kernel_crash_dump": ("bool", False, None),
}
SETTINGS = {"2.9": SETTINGS_29, "3.4": SETTINGS_34, "3.7": SETTINGS_37}
_HOSTNAME = re.compile(
    r"^(?=.{1,255}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)
_SPLIT = re.compile(r"[,\s]+")


class SettingError(Exception):
    """A field error: reported as 400 JSON ``{name: [message]}``."""


def default_value(version: str, name: str, lts: str):
    kind, default, _ = SETTINGS[version][name]
    if kind in ("series", "commissioning"):
        return lts
    return default


def clean(version: str, name: str, raw: str, context: dict):
    """Validate ``raw`` (the posted string) like MAAS's settings form; return the stored value.

    ``context`` holds ``oses`` and ``releases`` (from the complete boot resources).
    """
    kind, _, extra = SETTINGS[version][name]
    raw = "" if raw is None else raw
    if kind == "bool":  # Django's CheckboxInput: only 'true'/'false' are special
        lowered = raw.strip().lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        return bool(raw)
    if kind in ("int", "port"):
        try:
            value = int(raw.strip())
        except ValueError:
            raise SettingError("Enter a whole number.") from None
        if kind == "port":
            if value == extra:
                return value
            if not 0 <= value <= 65535:
                raise SettingError(
                    "Unable to change port number. Port number is not between 0 - 65535."
                )
            if value < 1024:
                raise SettingError(
                    "Unable to change port number. Port number is reserved for system services."
                )
            if 5239 <= value <= 5284:
                raise SettingError(
                    "Unable to change port number. Port number is reserved for MAAS services."
                )
            return value
        low, high = extra or (None, None)
        if low is not None and value < low:
            raise SettingError(f"Ensure this value is greater than or equal to {low}.")
        if high is not None and value > high:
            raise SettingError(f"Ensure this value is less than or equal to {high}.")
        return value
    if kind == "required":
        if not raw.strip():
            raise SettingError("This field is required.")
        return raw
    if kind == "char":
        return raw or None
    if kind == "choice":
        if raw not in extra:
            raise SettingError(f"Select a valid choice. {raw} is not one of the available choices.")
        return raw
    if kind == "iplist":
        items = [i for i in _SPLIT.split(raw.strip()) if i]
        for item in items:
            try:
                ipaddress.ip_address(item)
            except ValueError:
                raise SettingError(
                    f"Invalid IP address: {item}; provide a list of space-separated IP addresses"
                ) from None
        return " ".join(items) or None
    if kind in ("hostlist", "subnetlist"):
        items = [i for i in _SPLIT.split(raw.strip()) if i]
        normalised = []
        for item in items:
            try:
                if kind == "subnetlist" and "/" in item:
                    normalised.append(str(ipaddress.ip_network(item, strict=False)))
                    continue
                normalised.append(str(ipaddress.ip_address(item)))
            except ValueError:
                if ":" in item:
                    raise SettingError(f"Invalid IP address: {item}.") from None
                if not _HOSTNAME.match(item):
                    raise SettingError(f"Invalid hostname: {item}.") from None
                normalised.append(item)
        return " ".join(normalised) or None
    if kind == "syslog":
        if not raw.strip():
            return None
        text = raw.strip()
        if (re.search(r":\d+$", text) and text.count(":") == 1) or re.search(r"\]:\d+$", text):
            return text
        if text.count(":") > 1 and not text.startswith("["):
            return f"[{text}]:514"
        return f"{text}:514"
    if kind == "url":
        if not raw:
            return None
        if not re.match(r"^(https?|ftp)://[^\s/$.?#].[^\s]*$", raw):
            raise SettingError("Enter a valid URL.")
        return raw
    if kind == "os":
        oses = context["oses"]
        if not oses:
            raise SettingError(
                "Unable to determine supported operating systems, due to missing boot images."
            )
        if raw not in oses:
            raise SettingError(
                f"'{raw}' is not a valid operating system.  It should be one of: "
                + ", ".join(f"'{o}'" for o in sorted(oses))
            )
        return raw
    if kind in ("series", "commissioning"):
        releases = context["releases"]
        if raw not in releases:
            what = "commissioning release" if kind == "commissioning" else "release"
            raise SettingError(
                f"'{raw}' is not a valid {what}.  It should be one of: "
                + (", ".join(f"'{r}'" for r in sorted(releases)) or "'---'")
            )
        return raw
    if kind == "kernel":
        if raw and not re.match(r"^(ga|hwe)-\d\d\.\d\d", raw):
            raise SettingError(f"'{raw}' is not a valid kernel.  It should be one of: ''")
        return raw
    raise AssertionError(kind)  # pragma: no cover
