"""Pure decisions of a rolling MicroK8s upgrade: version and channel comparison, the plan
(control planes one at a time, then workers in batches), the expected dqlite voters.

MicroK8s upgrades one minor version at a time (each release's dqlite and kubelite migrate
from the previous one only) and never downgrades; both are refused here before any node is
touched.
"""

from __future__ import annotations

import re

from microk8s_lib import constants

_TRACK_RE = re.compile(r"^(?P<major>\d+)\.(?P<minor>\d+)(?P<flavour>-strict|-eksd|-classic)?$")
_VERSION_RE = re.compile(r"^v?(?P<major>\d+)\.(?P<minor>\d+)(?:\.(?P<patch>\d+))?")
WANTED_VOTERS = 3  # go-dqlite's automatic role management keeps up to three voters


def split_channel(channel: str) -> tuple[str, str]:
    """``(track, risk)`` of a snap channel, abbreviated the way snapd does."""
    parts = str(channel).split("/")
    if len(parts) == 1:
        if parts[0] in constants.CHANNEL_RISKS:
            return "latest", parts[0]
        return parts[0], "stable"
    if parts[0] in constants.CHANNEL_RISKS:
        return "latest", parts[0]
    return parts[0], parts[1]


def normalise_channel(channel: str) -> str:
    track, risk = split_channel(channel)
    return f"{track}/{risk}"


def same_channel(current: str, wanted: str) -> bool:
    """Whether snap channels are the same, compared the way snapd abbreviates them
    (``1.32`` == ``1.32/stable``, ``edge`` == ``latest/edge``; a long branch shown as
    ``track/risk/…`` matches any branch that starts so)."""

    def normalise(channel):
        parts = str(channel).split("/")
        if len(parts) == 1:
            if parts[0] in constants.CHANNEL_RISKS:
                parts = ["latest", parts[0]]
            else:
                parts = [parts[0], "stable"]
        return "/".join(parts)

    current, wanted = normalise(current), normalise(wanted)
    if current.endswith("/…"):
        return wanted.startswith(current[:-1])
    return current == wanted


def track_minor(channel: str) -> tuple[int, int, str]:
    """``(major, minor, flavour)`` of CHANNEL's track; ValueError for ``latest`` and others."""
    track, _ = split_channel(channel)
    match = _TRACK_RE.match(track)
    if not match:
        raise ValueError(
            f"channel {channel!r}: a rolling upgrade needs a numbered track such as "
            "1.33/stable (on 'latest' the version changes whenever the store moves it)"
        )
    return int(match["major"]), int(match["minor"]), match["flavour"] or ""


def version_minor(version: str) -> tuple[int, int]:
    """``(major, minor)`` of a Kubernetes version such as ``v1.32.3``."""
    match = _VERSION_RE.match(str(version or ""))
    if not match:
        raise ValueError(f"not a Kubernetes version: {version!r}")
    return int(match["major"]), int(match["minor"])


def version_matches(version: str, channel: str) -> bool:
    """Whether a kubelet VERSION belongs to CHANNEL's track (``v1.33.4`` on ``1.33/stable``)."""
    try:
        return version_minor(version) == track_minor(channel)[:2]
    except ValueError:
        return False


def step(current: str, target: str) -> str:
    """``"none"`` (already there), ``"refresh"`` (same minor, other risk) or ``"upgrade"``
    (the next minor); ValueError for a downgrade, a skipped minor or a confinement change."""
    if normalise_channel(current) == normalise_channel(target):
        return "none"
    cur_major, cur_minor, cur_flavour = track_minor(current)
    new_major, new_minor, new_flavour = track_minor(target)
    if cur_flavour != new_flavour:
        raise ValueError(
            f"{current} -> {target}: a refresh cannot change the snap's flavour or confinement "
            f"({cur_flavour or 'classic'} -> {new_flavour or 'classic'}); reinstall instead"
        )
    if (new_major, new_minor) < (cur_major, cur_minor):
        raise ValueError(
            f"{current} -> {target} is a downgrade: MicroK8s cannot go back a minor version "
            "(restore a backup instead)"
        )
    if (new_major, new_minor) == (cur_major, cur_minor):
        return "refresh"
    if new_major != cur_major or new_minor != cur_minor + 1:
        following = f"{cur_major}.{cur_minor + 1}"
        raise ValueError(
            f"{current} -> {target} skips a minor version: MicroK8s upgrades one minor at a "
            f"time; upgrade to {following}/{split_channel(target)[1]} first"
        )
    return "upgrade"


def expected_voters(control_planes: int) -> int:
    """dqlite voters a healthy cluster of CONTROL_PLANES members settles on (1 below 3)."""
    return WANTED_VOTERS if control_planes >= WANTED_VOTERS else min(1, control_planes)


def batches(items: list, size: int) -> list[list]:
    """ITEMS in consecutive batches of at most SIZE (>= 1)."""
    size = int(size)
    if size < 1:
        raise ValueError(f"batch size must be at least 1, not {size}")
    return [items[i : i + size] for i in range(0, len(items), size)]


def plan(nodes: dict, control_planes: list, workers: list, target: str, batch_size: int = 1):
    """The rolling upgrade to channel TARGET.

    NODES maps minion id -> ``{"channel", "node", "version", "ready", "unschedulable"}`` as
    found now (``channel`` None when MicroK8s is not installed; ``node`` the Kubernetes node
    name). A node is upgraded when it tracks another channel, runs another minor, or is still
    cordoned (an interrupted upgrade is finished, so a rerun resumes). Returns
    ``{"target", "voters", "batches": [[{"id", "node", "role", "from", "step"}]],
    "current": [ids already done]}``; ValueError naming every node that cannot get there in
    one step, or a node missing from NODES.
    """
    track_minor(target)
    problems, todo, current = [], {}, []
    for minion in list(control_planes) + list(workers):
        found = nodes.get(minion)
        if not found or not found.get("channel"):
            problems.append(f"{minion}: MicroK8s is not installed or did not answer")
            continue
        try:
            kind = step(found["channel"], target)
        except ValueError as err:
            problems.append(f"{minion}: {err}")
            continue
        stale = bool(found.get("version")) and not version_matches(found["version"], target)
        if kind == "none" and not stale and not found.get("unschedulable"):
            current.append(minion)
            continue
        todo[minion] = {
            "id": minion,
            "node": found.get("node") or minion.split(".")[0],
            "role": constants.ROLE_CONTROL_PLANE
            if minion in control_planes
            else constants.ROLE_WORKER,
            "from": found["channel"],
            "step": kind if kind != "none" else "finish",
        }
    if problems:
        raise ValueError("cannot upgrade to " + target + ": " + "; ".join(problems))
    ordered = [[todo[m]] for m in control_planes if m in todo]
    ordered += batches([todo[m] for m in workers if m in todo], batch_size)
    return {
        "target": normalise_channel(target),
        "voters": expected_voters(len(control_planes)),
        "batches": [batch for batch in ordered if batch],
        "current": current,
    }


def helper_for(minion: str, control_planes: list) -> str:
    """The control plane that drains and watches MINION: another one when there is one (a
    control plane being refreshed cannot answer for itself)."""
    others = [cp for cp in control_planes if cp != minion]
    return others[0] if others else control_planes[0]


def settings(upgrade: dict | None) -> dict:
    """The ``kubesalt:microk8s:upgrade`` pillar with defaults; ValueError naming the key."""
    merged = {"batch_size": 1, "drain_timeout": 300, "node_timeout": 600}
    merged.update(upgrade or {})
    for key, value in merged.items():
        if key not in ("batch_size", "drain_timeout", "node_timeout"):
            raise ValueError(f"kubesalt:microk8s:upgrade:{key}: unknown setting")
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(
                f"kubesalt:microk8s:upgrade:{key}: expected a whole number >= 1, got {value!r}"
            )
    return merged


def node_back(found: dict | None, version=None) -> tuple[bool, str]:
    """Whether node ``found`` (a ``microk8s.nodes`` entry, None when not listed) is Ready
    and, with ``version`` (``v1.33.4`` or a channel such as ``1.33/stable``), runs it; and
    what it looks like, for a message."""
    if not found:
        return False, "not listed"
    seen = f"{'Ready' if found['ready'] else 'NotReady'}, {found['version'] or '?'}"
    good = bool(found["ready"])
    if good and version:
        wanted = str(version)
        good = (
            found["version"] == wanted
            if wanted.startswith("v")
            else version_matches(found["version"], wanted)
        )
    return good, seen


def voter_count(high_availability_nodes: list) -> int:
    """How many of ``microk8s status``'s high-availability nodes are dqlite voters."""
    return sum(1 for member in high_availability_nodes if member.get("role") == "voter")


def not_back_message(node: str, timeout: float, seen: str, version=None, voters=None) -> str:
    """Why ``microk8s.wait_node`` gives up on ``node``, and what to look at."""
    return (
        f"node {node} is not back after {int(timeout)} s (now: {seen}; wanted: Ready"
        + (f" at {version}" if version else "")
        + (f" with {voters} dqlite voters" if voters else "")
        + "). Look at it: snap services microk8s, journalctl -u "
        "snap.microk8s.daemon-kubelite; fix it, then rerun the orchestration"
    )
