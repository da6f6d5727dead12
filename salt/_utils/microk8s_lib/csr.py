"""Read and edit the ``[ alt_names ]`` section of MicroK8s' ``csr.conf.template``.

Extra SANs go in as ``IP.<n> = <addr>`` / ``DNS.<n> = <name>`` with ``n`` >= 100 (MicroK8s
numbers the node's own IPs from 3 upwards when it renders the template; CAPI uses 100, the
Juju charm 1000+), before the ``#MOREIPS`` marker, which stays in place.
"""

from __future__ import annotations

import ipaddress
import re

FIRST_EXTRA_INDEX = 100
MARKER = "#MOREIPS"

_ENTRY_RE = re.compile(r"^\s*(?P<kind>IP|DNS)\.(?P<index>\d+)\s*=\s*(?P<value>\S+)\s*$")
_SECTION_RE = re.compile(r"^\s*\[\s*(?P<name>[^\]]+?)\s*\]\s*$")

DEFAULT_SANS = frozenset(
    {
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster",
        "kubernetes.default.svc.cluster.local",
        "127.0.0.1",
        "10.152.183.1",
    }
)


def _normalise(kind: str, value: str) -> str:
    if kind == "IP":
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            return value
    return value.lower()


def entries(text: str) -> list[tuple[str, int, str]]:
    """Return ``[(kind, index, value)]`` of every SAN line in any ``[ alt_names ]`` section."""
    found = []
    section = None
    for line in text.splitlines():
        header = _SECTION_RE.match(line)
        if header:
            section = header["name"]
            continue
        if section != "alt_names":
            continue
        match = _ENTRY_RE.match(line)
        if match:
            found.append((match["kind"], int(match["index"]), match["value"]))
    if section is None or not any(
        _SECTION_RE.match(line) and _SECTION_RE.match(line)["name"] == "alt_names"
        for line in text.splitlines()
    ):
        raise ValueError("the CSR template has no [ alt_names ] section")
    return found


def extra_sans(text: str) -> list[str]:
    """Return the SANs beyond the MicroK8s defaults, in file order."""
    return [value for _, _, value in entries(text) if value not in DEFAULT_SANS]


def has_san(text: str, kind: str, value: str) -> bool:
    wanted = _normalise(kind, value)
    return any(k == kind and _normalise(k, v) == wanted for k, _, v in entries(text))


def add_san(text: str, kind: str, value: str) -> str:
    """Return the template with ``kind.<n> = value`` added; unchanged if already present."""
    if has_san(text, kind, value):
        return text
    used = {index for k, index, _ in entries(text) if k == kind}
    index = FIRST_EXTRA_INDEX
    while index in used:
        index += 1
    new_line = f"{kind}.{index} = {value}"
    lines = text.splitlines(keepends=True)
    section = None
    insert_at = None
    last_in_section = None
    for position, line in enumerate(lines):
        header = _SECTION_RE.match(line)
        if header:
            if section == "alt_names" and insert_at is None:
                break
            section = header["name"]
            continue
        if section != "alt_names":
            continue
        if line.strip() == MARKER:
            insert_at = position
            break
        if line.strip():
            last_in_section = position
    if insert_at is None:
        insert_at = (last_in_section + 1) if last_in_section is not None else None
    if insert_at is None:
        # Empty [ alt_names ] section: put the line right after its header.
        insert_at = next(
            i + 1
            for i, line in enumerate(lines)
            if _SECTION_RE.match(line) and _SECTION_RE.match(line)["name"] == "alt_names"
        )
    if insert_at > 0 and not lines[insert_at - 1].endswith("\n"):
        lines[insert_at - 1] += "\n"
    lines.insert(insert_at, new_line + "\n")
    return "".join(lines)
