"""What the simulated ``microk8s`` subcommands share: output, exits, guards, readiness and the
addon catalogue."""

from __future__ import annotations

import os
import sys
import time

import yaml

from kubesalt.sim.microk8s import agent
from kubesalt.sim.microk8s import catalog
from kubesalt.sim.microk8s.host import Host
from kubesalt.sim.microk8s.host import roles_of


class Exit(Exception):
    """Leave the command with CODE after the output already printed."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


def out(*lines: str) -> None:
    for line in lines:
        print(line)


def err(*lines: str) -> None:
    for line in lines:
        print(line, file=sys.stderr)


def track(host: Host) -> tuple:
    return agent.version_tuple((host.snap_meta() or {}).get("track", catalog.DEFAULT_TRACK))


def services_active(host: Host) -> bool:
    return bool((host.snap_meta() or {}).get("active", True))


def cluster_ready(host: Host) -> bool:
    return services_active(host) and host.is_ready()


def wait_for_ready(host: Host, timeout: float) -> bool:
    """Poll every 2 s until ready; TIMEOUT 0 waits forever (as upstream)."""
    start = time.time()
    while True:
        if cluster_ready(host):
            return True
        if timeout and time.time() > start + timeout:
            return False
        time.sleep(2)


def state_of(host: Host) -> dict:
    return host.load_state() or host.fresh_state()


def expand(host: Host, text: str) -> str:
    return (
        text.replace("${SNAP_DATA}", str(host.data))
        .replace("${SNAP_COMMON}", str(host.common))
        .replace("${SNAP}", str(host.snap))
    )


def available_addons(host: Host) -> list:
    """Union of ``$SNAP_COMMON/addons/<repo>/addons.yaml``, sorted by (repository, name)."""
    addons = []
    base = host.common / "addons"
    if not base.exists():
        return addons
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for repo_dir in sorted(base.iterdir()):
        catalogue = repo_dir / "addons.yaml"
        if not catalogue.exists():
            continue
        data = yaml.load(catalogue.read_text(), Loader=loader) or {}  # noqa: S506 - a safe loader
        for entry in data.get("microk8s-addons", {}).get("addons", []):
            addons.append({**entry, "repository": repo_dir.name})
    addons.sort(key=lambda a: (a["repository"], a["name"]))
    return addons


def addon_status(host: Host, addons: list, ready: bool) -> tuple[list, list]:
    if not ready:
        return [], []
    in_cluster = set(state_of(host).get("addons", []))
    enabled, disabled = [], []
    for addon in addons:
        check = addon.get("check_status", "")
        if check.startswith("simulated/"):
            on = f"{addon['repository']}/{check.split('/', 1)[1]}" in in_cluster
        else:
            on = os.path.isfile(expand(host, check))
        (enabled if on else disabled).append(addon)
    return enabled, disabled


def worker_guard(host: Host, *lines: str, code: int) -> None:
    if host.is_worker():
        out(*lines)
        raise Exit(code)


def stopped_guard(host: Host) -> None:
    """The shell ``exit_if_stopped``: stderr, exit 1."""
    if host.is_stopped():
        err(catalog.STOPPED)
        raise Exit(1)


def dqlite_info(host: Host) -> list:
    return roles_of(state_of(host).get("members", []))


def click_usage(prog: str, usage: str, message: str, help_flag: str = "-h") -> None:
    err(f"Usage: {prog} {usage}", f"Try '{prog} {help_flag}' for help.", "", f"Error: {message}")
    raise Exit(2)


DEFAULT_STORAGE = "/var/snap/microk8s/common/default-storage"
