"""Parse what ``microk8s status`` prints, in every shape real MicroK8s prints it.

``parse_status(text)`` returns the contract dict of ``microk8s.status``::

    {"running": bool, "role": "control-plane" | "worker",
     "high_availability": {"enabled": bool, "nodes": [{"address": "IP:PORT", "role": ...}]},
     "addons": {NAME: {"status", "repository", "description", "version"}}}

Shapes (reference §1.5, §2): the stopped line, the two-line worker text, the hand-printed
``--format yaml`` (read line by line, not with a YAML parser: it is not real YAML — a
description may hold ``#`` or ``: ``, ``version:`` may be followed by two spaces, and the
not-running ``message`` is indented under ``high-availability``), the deprecated ``--yaml``
form, ``--format pretty`` and ``--format short``. Anything else raises ``ValueError`` whose
message quotes the text and says what to do.
"""

from __future__ import annotations

import re

from microk8s_lib import constants

_PRETTY_ADDON_RE = re.compile(r"^\s{4}(?P<name>\S+)\s+# \((?P<repo>[^)]*)\) ?(?P<desc>.*)$")
_WARNING_PREFIXES = ("WARNING", "Warning:", "DEPRECATION")
_SHORT_ADDON_RE = re.compile(r"^(?:(?P<repo>[^/\s:]+)/)?(?P<name>[^\s:/]+): (?P<status>\w+)$")


def empty_status(running: bool, role: str = constants.ROLE_CONTROL_PLANE) -> dict:
    return {
        "running": running,
        "role": role,
        "high_availability": {"enabled": False, "nodes": []},
        "addons": {},
    }


def _addon_entry(status, repository=None, description="", version=""):
    return {
        "status": status,
        "repository": repository or "",
        "description": description,
        "version": version,
    }


def _bool(value: str, what: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "yes"):
        return True
    if lowered in ("false", "no"):
        return False
    raise ValueError(f"unexpected value {value!r} for {what} in microk8s status output")


def is_worker_text(text: str) -> bool:
    return text.strip().startswith(constants.MSG_WORKER_PREFIX)


def parse_status(text: str) -> dict:
    """Return the status dict for the stdout of ``microk8s status``; raise ``ValueError``."""
    if not isinstance(text, str):
        raise ValueError("microk8s status printed nothing")
    stripped = text.strip()
    lines = [line.rstrip() for line in stripped.splitlines()]
    # Wrappers may print warnings first (e.g. about hostpath storage); they say nothing here.
    while lines and (not lines[0].strip() or lines[0].lstrip().startswith(_WARNING_PREFIXES)):
        lines.pop(0)
    if not lines:
        raise ValueError(explain_failure(text) if stripped else "microk8s status printed nothing")
    first = lines[0].strip()
    if first == constants.MSG_STOPPED:
        return empty_status(running=False)
    if first.startswith(constants.MSG_WORKER_PREFIX):
        # A worker prints no YAML; liveness has to be judged from the snap services.
        return empty_status(running=True, role=constants.ROLE_WORKER)
    if first == constants.MSG_NOT_RUNNING:
        return empty_status(running=False)
    if first == "microk8s:":
        return _parse_yaml(lines)
    if first == "microk8s is running":
        return _parse_pretty_or_short(lines)
    raise ValueError(explain_failure(text))


def _split_key(line: str):
    key, sep, value = line.strip().partition(":")
    if not sep:
        raise ValueError(f"unexpected line in microk8s status output: {line.strip()!r}")
    return key.strip(), value.strip()


def _parse_yaml(lines: list[str]) -> dict:
    result = empty_status(running=False)
    section = None
    cursor = {"node": None, "addon": None}  # the list entry being read in its section
    for raw in lines:
        if not raw.strip():
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        line = raw.strip()
        if indent == 0:
            section, _value = _split_key(line)
        elif section == "microk8s":
            key, value = _split_key(line)
            if key == "running":
                result["running"] = _bool(value, "microk8s.running")
        elif section == "high-availability":
            _yaml_ha_line(result["high_availability"], cursor, line, indent)
        elif section == "addons":
            _yaml_addon_line(result["addons"], cursor, line, raw)
    _check_yaml_status(result)
    return result


def _yaml_ha_line(ha: dict, cursor: dict, line: str, indent: int) -> None:
    if line.startswith("- "):
        cursor["node"] = {}
        ha["nodes"].append(cursor["node"])
        line = line[2:]
    key, value = _split_key(line)
    if key == "enabled" and cursor["node"] is None:
        ha["enabled"] = _bool(value, "high-availability")
    elif key in ("address", "role") and cursor["node"] is not None and indent >= 4:
        cursor["node"][key] = value
    # "nodes:" (maybe empty) and the not-running "message" carry nothing more.


def _yaml_addon_line(addons: dict, cursor: dict, line: str, raw: str) -> None:
    if line.startswith("- "):
        key, value = _split_key(line[2:])
        if key != "name" or not value:
            raise ValueError(f"addon entry without a name in microk8s status: {raw!r}")
        cursor["addon"] = value
        addons[value] = _addon_entry("")
        return
    if cursor["addon"] is None:
        # Deprecated ``--yaml`` form: "  core/dns: enabled".
        match = _SHORT_ADDON_RE.match(line)
        if not match:
            raise ValueError(f"unexpected addon line in microk8s status: {raw!r}")
        addons[match["name"]] = _addon_entry(match["status"], match["repo"])
        return
    key, value = _split_key(line)
    if key in ("repository", "description", "version", "status"):
        addons[cursor["addon"]][key] = value


def _check_yaml_status(result: dict) -> None:
    for node in result["high_availability"]["nodes"]:
        if "address" not in node:
            raise ValueError("a high-availability node without an address in microk8s status")
        node.setdefault("role", "voter")
    for name, addon in result["addons"].items():
        if addon["status"] not in ("enabled", "disabled"):
            raise ValueError(f"addon {name!r} has status {addon['status']!r} in microk8s status")


def _parse_pretty_or_short(lines: list[str]) -> dict:
    result = empty_status(running=True)
    ha = result["high_availability"]
    group = None
    in_endpoints = False
    dqlite_listed = False
    for raw in lines[1:]:
        line = raw.strip()
        if not line:
            continue
        if line.startswith("high-availability:"):
            # "yes" only means >= 3 voters; HA (dqlite) is on whenever its nodes are listed.
            continue
        if line.startswith(("datastore master nodes:", "datastore standby nodes:")):
            dqlite_listed = True
            role = "voter" if line.startswith("datastore master") else "standby"
            for address in line.split(":", 1)[1].split():
                if address != "none":
                    ha["nodes"].append({"address": address, "role": role})
            continue
        if line.startswith("datastore endpoints:"):
            # External etcd: the endpoint lines that follow are not dqlite nodes.
            in_endpoints = True
            continue
        if line == "addons:":
            in_endpoints = False
            continue
        if in_endpoints:
            continue
        if line in ("enabled:", "disabled:"):
            group = line[:-1]
            continue
        match = _PRETTY_ADDON_RE.match(raw)
        if match and group:
            result["addons"][match["name"]] = _addon_entry(
                group, match["repo"], match["desc"].strip()
            )
            continue
        match = _SHORT_ADDON_RE.match(line)
        if match:
            result["addons"][match["name"]] = _addon_entry(match["status"], match["repo"])
            continue
        raise ValueError(f"unexpected line in microk8s status output: {raw!r}")
    ha["enabled"] = dqlite_listed or any(
        name == "ha-cluster" and addon["status"] == "enabled"
        for name, addon in result["addons"].items()
    )
    return result


def explain_failure(text: str, unexpected: bool = True) -> str:
    """Return a message quoting a failed or unknown MicroK8s output and saying what to do.

    ``unexpected=False``: the output of a command that failed (rather than one that printed
    something unparsable) is quoted as it is when no known case applies.
    """
    stripped = (text or "").strip()
    if not stripped:
        return "microk8s printed nothing"
    lines = stripped.splitlines()
    if constants.MSG_PERMISSION in stripped:
        return (
            f"{lines[0]} Run Salt as root, or add the minion's user to the 'microk8s' group "
            f"(output: {stripped!r})"
        )
    if constants.MSG_LOW_MEMORY in stripped:
        return (
            "MicroK8s refuses to run the control plane on this node: it does not have enough "
            "RAM; add memory, join it as a worker, or run 'microk8s start "
            f"--disable-low-memory-guard' (output: {stripped!r})"
        )
    if lines[0].startswith("Traceback (most recent call last)"):
        return f"microk8s crashed: {lines[-1].strip()} (full output: {stripped!r})"
    if "is not a valid MicroK8s subcommand" in stripped:
        return f"this MicroK8s release lacks the command: {lines[0]}"
    if stripped.startswith(constants.MSG_STOPPED):
        return f"{lines[0]}: MicroK8s is stopped; start it (microk8s.start, state microk8s.running)"
    if not unexpected:
        return stripped
    return f"unexpected output from microk8s: {stripped!r}"
