"""Parse ``snap list microk8s``, ``snap services microk8s`` and ``microk8s version``."""

from __future__ import annotations

import re

from microk8s_lib import constants

_VERSION_RE = re.compile(r"^MicroK8s (?P<version>\S+) revision (?P<revision>\S+)$")


def parse_snap_list(text: str, name: str = "microk8s") -> dict:
    """Return ``{"channel", "version", "revision"}`` of snap ``name`` or ``{}`` if not listed.

    ``snap list`` prints a header then one row per snap; columns are separated by two or
    more spaces: ``Name Version Rev Tracking Publisher Notes``.
    """
    lines = [line for line in (text or "").splitlines() if line.strip()]
    if not lines:
        return {}
    if lines[0].strip() == constants.MSG_SNAP_NOT_INSTALLED:
        return {}
    header = lines[0].split()
    if header[:4] != ["Name", "Version", "Rev", "Tracking"]:
        raise ValueError(f"unexpected header from snap list: {lines[0]!r}")
    for line in lines[1:]:
        columns = line.split()
        if len(columns) < 4 or columns[0] != name:
            continue
        tracking = columns[3]
        return {
            "channel": "" if tracking == "-" else tracking,
            "version": columns[1],
            "revision": columns[2],
        }
    return {}


def parse_version(text: str) -> dict:
    """Return ``{"version": "1.32.3", "revision": "7964"}`` from ``microk8s version``."""
    line = (text or "").strip().splitlines()[0].strip() if (text or "").strip() else ""
    match = _VERSION_RE.match(line)
    if not match:
        raise ValueError(f"unexpected output from microk8s version: {text!r}")
    version = match["version"]
    if version == "(unknown)":
        version = ""
    return {
        "version": version[1:] if version.startswith("v") else version,
        "revision": match["revision"],
    }


def parse_snap_services(text: str) -> dict:
    """Return ``{service: {"startup": str, "current": str}}`` from ``snap services``."""
    lines = [line for line in (text or "").splitlines() if line.strip()]
    if not lines:
        return {}
    if lines[0].split()[:3] != ["Service", "Startup", "Current"]:
        raise ValueError(f"unexpected header from snap services: {lines[0]!r}")
    services = {}
    for line in lines[1:]:
        columns = line.split()
        if len(columns) >= 3:
            services[columns[0]] = {"startup": columns[1], "current": columns[2]}
    return services


def services_running(services: dict) -> bool:
    """MicroK8s runs when kubelite (all Kubernetes services in one process) is active."""
    kubelite = services.get("microk8s.daemon-kubelite")
    if kubelite is not None:
        return kubelite["current"] == "active"
    return any(service["current"] == "active" for service in services.values())
