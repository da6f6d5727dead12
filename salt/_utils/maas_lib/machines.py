"""Machines in MAAS's API 2.0: statuses, look-ups and what a state has to do (pure).

Status numbers and names are MAAS's ``NODE_STATUS`` / ``NODE_STATUS_CHOICES``
(``src/maasserver/enum.py``); the releasable set is ``RELEASABLE_STATUSES`` of
``src/maasserver/api/machines.py`` (MAAS 3.4.8); docs/reference/maas.md. No Salt dunders
here.
"""

from __future__ import annotations

import base64

NEW, COMMISSIONING, FAILED_COMMISSIONING, MISSING, READY = 0, 1, 2, 3, 4
RESERVED, DEPLOYED, RETIRED, BROKEN, DEPLOYING, ALLOCATED = 5, 6, 7, 8, 9, 10
FAILED_DEPLOYMENT, RELEASING, FAILED_RELEASING = 11, 12, 13
DISK_ERASING, FAILED_DISK_ERASING = 14, 15
STATUS_NAMES = {
    NEW: "New",
    COMMISSIONING: "Commissioning",
    FAILED_COMMISSIONING: "Failed commissioning",
    MISSING: "Missing",
    READY: "Ready",
    RESERVED: "Reserved",
    DEPLOYED: "Deployed",
    RETIRED: "Retired",
    BROKEN: "Broken",
    DEPLOYING: "Deploying",
    ALLOCATED: "Allocated",
    FAILED_DEPLOYMENT: "Failed deployment",
    RELEASING: "Releasing",
    FAILED_RELEASING: "Releasing failed",
    DISK_ERASING: "Disk erasing",
    FAILED_DISK_ERASING: "Failed disk erasing",
}
RELEASABLE = {
    ALLOCATED,
    RESERVED,
    BROKEN,
    DEPLOYING,
    DEPLOYED,
    FAILED_DEPLOYMENT,
    FAILED_DISK_ERASING,
    FAILED_RELEASING,
}
# Steps that end by themselves: wait for them rather than act.
IN_PROGRESS = {COMMISSIONING, DEPLOYING, RELEASING, DISK_ERASING}
FAILED = {FAILED_COMMISSIONING, FAILED_DEPLOYMENT, FAILED_RELEASING, FAILED_DISK_ERASING}
SUMMARY_FIELDS = (
    "system_id",
    "hostname",
    "status_name",
    "status_message",
    "owner",
    "osystem",
    "distro_series",
    "architecture",
    "power_type",
    "tag_names",
    "ip_addresses",
)


def status_name(number) -> str:
    return STATUS_NAMES.get(int(number), f"status {number}")


def summary(machine: dict) -> dict:
    """The fields an operator reads (MAAS's machine object has dozens more)."""
    out = {key: machine.get(key) for key in SUMMARY_FIELDS}
    out["status"] = int(machine.get("status", -1))
    pool = machine.get("pool")
    out["pool"] = pool.get("name") if isinstance(pool, dict) else pool
    return out


def find(machines: list, name: str) -> dict | None:
    """A machine by system_id, hostname or FQDN (MAAS names machines its own way)."""
    for machine in machines:
        if name in (machine.get("system_id"), machine.get("hostname"), machine.get("fqdn")):
            return machine
    short = name.split(".", 1)[0]
    matches = [m for m in machines if m.get("hostname") == short]
    return matches[0] if len(matches) == 1 else None


def series_matches(machine: dict, distro_series: str | None) -> bool:
    """Whether a machine runs ``distro_series`` (``jammy`` or ``ubuntu/jammy``; None: any)."""
    if not distro_series:
        return True
    osystem, _, series = distro_series.rpartition("/")
    if osystem and osystem != machine.get("osystem"):
        return False
    return machine.get("distro_series") == series


def deploy_plan(machine: dict, distro_series: str | None = None) -> dict:
    """What ``machine_deployed`` does for a machine in its current status.

    ``{"action": "none" | "wait" | "deploy" | "redeploy" | "error", "why": text}``: ``none``
    when it is Deployed with the series; ``wait`` while deploying (or commissioning: it
    becomes Ready by itself); ``deploy`` from Ready/Allocated/Failed deployment;
    ``redeploy`` when Deployed with another series (release first); ``error`` otherwise.
    """
    status = int(machine["status"])
    name = status_name(status)
    if status == DEPLOYED:
        if series_matches(machine, distro_series):
            return {"action": "none", "why": "deployed"}
        return {
            "action": "redeploy",
            "why": f"deployed with {machine.get('osystem')}/{machine.get('distro_series')}, "
            f"not {distro_series}",
        }
    if status == DEPLOYING:
        if series_matches(machine, distro_series):
            return {"action": "wait", "why": "deploying"}
        return {"action": "redeploy", "why": f"deploying {machine.get('distro_series')}"}
    if status == COMMISSIONING:
        return {"action": "wait", "why": "commissioning"}
    if status in (READY, ALLOCATED, FAILED_DEPLOYMENT):
        return {"action": "deploy", "why": name}
    return {
        "action": "error",
        "why": f"machine {machine.get('hostname')} is {name}"
        + (f" ({machine['status_message']})" if machine.get("status_message") else "")
        + ": MAAS cannot deploy it from there (commission it, or mark it fixed, first)",
    }


def release_plan(machine: dict) -> dict:
    """What ``machine_released`` does: ``none``, ``wait`` (Releasing), ``release`` or
    ``error`` (statuses MAAS refuses to release, e.g. Commissioning)."""
    status = int(machine["status"])
    if status in (READY, NEW):
        return {"action": "none", "why": status_name(status)}
    if status == RELEASING:
        return {"action": "wait", "why": "releasing"}
    if status in RELEASABLE:
        return {"action": "release", "why": status_name(status)}
    return {
        "action": "error",
        "why": f"machine {machine.get('hostname')} is {status_name(status)}: MAAS cannot "
        "release it from there",
    }


def encode_user_data(user_data) -> str:
    """MAAS takes ``user_data`` base64-encoded; text or bytes in, ASCII base64 out."""
    if isinstance(user_data, str):
        user_data = user_data.encode()
    if not isinstance(user_data, bytes):
        raise ValueError("user_data: a string (cloud-config or script) is needed")
    return base64.b64encode(user_data).decode("ascii")


def as_list(name: str, value) -> list[str]:
    """Tags and similar: a list, or a comma-separated string."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) and v for v in value):
        return list(value)
    raise ValueError(f"{name}: a list of names or a comma-separated string is needed")
