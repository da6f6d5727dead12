"""``microk8s enable`` / ``disable`` (grammar, messages, simulated hooks) and ``addons repo``."""

from __future__ import annotations

import fcntl
import ipaddress
import shutil
import sys

from kubesalt.sim.microk8s import agent
from kubesalt.sim.microk8s import catalog
from kubesalt.sim.microk8s.host import Host
from kubesalt.sim.microk8s.mk8s_common import DEFAULT_STORAGE
from kubesalt.sim.microk8s.mk8s_common import Exit
from kubesalt.sim.microk8s.mk8s_common import addon_status
from kubesalt.sim.microk8s.mk8s_common import available_addons
from kubesalt.sim.microk8s.mk8s_common import click_usage
from kubesalt.sim.microk8s.mk8s_common import err
from kubesalt.sim.microk8s.mk8s_common import out
from kubesalt.sim.microk8s.mk8s_common import state_of
from kubesalt.sim.microk8s.mk8s_common import stopped_guard
from kubesalt.sim.microk8s.mk8s_common import worker_guard


def cmd_enable(host: Host, args: list) -> int:
    return xable(host, "enable", args)


def cmd_disable(host: Host, args: list) -> int:
    return xable(host, "disable", args)


def xable(host: Host, action: str, args: list) -> int:
    if args and args[0] in ("-h", "--help"):
        out(
            f"Usage: microk8s {action} [OPTIONS] ADDONS...",
            "",
            f"  {action.capitalize()} a MicroK8s addon.",
            "",
            "Options:",
            "  -h, --help  Show this message and exit.",
        )
        return 0
    if not args:
        click_usage(f"microk8s {action}", "[OPTIONS] ADDONS...", "Missing argument 'ADDONS...'.")
    if any(a in ("-h", "--help") for a in args[1:]):
        out(
            f"Addon {args[0]} does not yet have a help message.",
            "For more information about it, visit https://microk8s.io/docs/addons",
        )
        return 0
    worker_guard(host, catalog.WORKER_PREFIX, "Please use the master node.", code=1)
    stopped_guard(host)
    lock_path = host.lock_dir / ".microk8s-addon-lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        fcntl.lockf(lock, fcntl.LOCK_EX)
        try:
            return unprotected_xable(host, action, args)
        finally:
            fcntl.lockf(lock, fcntl.LOCK_UN)


def parse_single(arg: str, available: list) -> tuple:
    name, *extra = arg.split(":")
    parts = name.split("/")
    if len(parts) == 2:
        return parts[0], parts[1], extra
    if len(parts) != 1:
        out(f"Invalid addon name {name}")
        raise Exit(1)
    repos = [repo for repo, addon in available if addon == name]
    if not repos:
        err(f"Addon {name} was not found in any repository")
        if name in catalog.COMMUNITY_ADDONS:
            out(
                "To use the community maintained flavor enable the respective repository:",
                "",
                "    microk8s enable community",
                "",
            )
        raise Exit(1)
    if len(repos) > 1:
        err(
            f"Addon {name} exists in more than repository. Please explicitly specify",
            "the repository using any of:",
            "",
        )
        for repo in repos:
            err(f"    {repo}/{name}")
        err("")
        raise Exit(1)
    err(f"Infer repository {repos[0]} for addon {name}")
    return repos[0], name, extra


def parse_xable_args(args: list, available: list) -> list:
    names = [a for _, a in available] + [f"{r}/{a}" for r, a in available]
    if {arg.split(":")[0] for arg in args} < set(names):
        return [parse_single(arg, available) for arg in args]
    repo, name, extra = parse_single(args[0], available)
    if extra and args[1:]:
        out(
            "Can't pass string arguments and flag arguments simultaneously!",
            "Enable or disable addons with only one argument style at a time:",
            "",
            "    microk8s enable foo:'bar'",
            "or",
            "    microk8s enable foo --bar",
            "",
        )
        raise Exit(1)
    return [(repo, name, extra or args[1:])]


def unprotected_xable(host: Host, action: str, args: list) -> int:
    addons = available_addons(host)
    enabled, disabled = addon_status(host, addons, True)
    available = [(a["repository"], a["name"]) for a in addons]
    done = [(a["repository"], a["name"]) for a in (enabled if action == "enable" else disabled)]
    requests = parse_xable_args(args, available)
    if len(requests) > 1:
        out(
            "WARNING: Do not enable or disable multiple addons in one command.",
            "         This form of chained operations on addons will be DEPRECATED in the future.",
            f"         Please, {action} one addon at a time: 'microk8s {action} <addon>'",
        )
    for repo, name, extra in requests:
        if (repo, name) not in available:
            out(f"Addon {repo}/{name} not found")
            continue
        if (repo, name) in done:
            out(f"Addon {repo}/{name} is already {action}d")
            continue
        code = run_hook(host, action, repo, name, list(extra))
        sys.stdout.flush()
        if code:
            return code
    return 0


def _set_addon(host: Host, qualified: str, on: bool) -> None:
    def change(state):
        current = set(state.get("addons", []))
        current.add(qualified) if on else current.discard(qualified)
        state["addons"] = sorted(current)

    agent.mutate(host, change)


def _read_answer(prompt: str) -> str | None:
    print(prompt, end="", flush=True)
    line = sys.stdin.readline()
    return line.strip() if line else None


def _valid_range(value: str) -> bool:
    try:
        if "-" in value:
            first, last = value.split("-", 1)
            return bool(ipaddress.ip_address(first) and ipaddress.ip_address(last))
        ipaddress.ip_network(value, strict=False)
        return "/" in value
    except ValueError:
        return False


def run_hook(host: Host, action: str, repo: str, name: str, args: list) -> int:
    """The addon's enable/disable script, simulated."""
    qualified = f"{repo}/{name}"
    if repo == "core" and name in ("helm", "helm3"):
        out("Helm comes pre-installed with MicroK8s" if action == "disable" else "Helm is enabled")
        return 0
    if repo == "core" and name == "community":
        target = host.common / "addons/community"
        if action == "enable":
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy(host.snap / "addons/community/addons.yaml", target / "addons.yaml")
        else:
            shutil.rmtree(target, ignore_errors=True)
        out(
            catalog.ENABLE_MESSAGES["community"]
            if action == "enable"
            else catalog.DISABLE_MESSAGES["community"]
        )
        return 0
    if repo == "core" and name == "ha-cluster":
        if action == "disable":
            if len(state_of(host)["members"]) <= 1 and "--force" not in args:
                out(
                    "Disabling HA will reset your cluster in a clean state.",
                    "Any running workloads will be stopped and any cluster configuration "
                    "will be lost.",
                    "As this is a single node cluster and this is a destructive operation,",
                    "please use the '--force' flag.",
                )
                return 2
            host.set_lock("ha-cluster", False)
            out("HA disabled")
        else:
            host.set_lock("ha-cluster")
            out("HA enabled")
        return 0
    if action == "enable":
        if repo == "core" and name in ("prometheus", "storage", "gpu"):
            target = {
                "prometheus": "observability",
                "storage": "hostpath-storage",
                "gpu": "nvidia",
            }[name]
            if name == "prometheus":
                out(
                    "DEPRECATION WARNING: 'prometheus' is deprecated and will soon be removed. "
                    "Please use 'observability' instead."
                )
            elif name == "storage":
                out(
                    "DEPRECATION WARNING: 'storage' is deprecated and will soon be removed. "
                    "Please use 'hostpath-storage' instead."
                )
            return run_hook(host, action, repo, target, args)
        if repo == "core" and name == "dns" and args and args[0]:
            for server in args[0].split(","):
                try:
                    ipaddress.ip_address(server)
                except ValueError:
                    out(f"Your input value ({server}) is not a valid and reachable IP address")
                    return 1
        if repo == "core" and name == "metallb":
            ranges = args[0] if args else None
            if not ranges:
                ranges = _read_answer(
                    "Enter each IP address range delimited by comma (e.g. "
                    "'10.64.140.43-10.64.140.49,192.168.0.105-192.168.0.111'): "
                )
                if not ranges:
                    out(
                        "",
                        "You have to input an IP Range value when asked, or provide it as an "
                        "argument to the enable command, eg:",
                        "  microk8s enable metallb:10.0.0.1-10.0.0.100",
                        "You can also use CIDR notation, eg.",
                        "  microk8s enable metallb:192.168.1.240/24",
                    )
                    return 1
            for value in ranges.split(","):
                if not _valid_range(value):
                    out(f"Your input value ({value}) is not a valid IP Range")
                    return 1
        if repo == "core" and name == "hostpath-storage":
            (host.common / "default-storage").mkdir(parents=True, exist_ok=True)
        out(f"Enabling {name}")
        _set_addon(host, qualified, True)
        out(catalog.ENABLE_MESSAGES.get(name, f"{name} is enabled"))
        return 0
    # disable
    if repo == "core" and name == "hostpath-storage":
        _set_addon(host, qualified, False)  # the storage class goes before the question
        out("Disabling hostpath storage")
        if "destroy-storage" not in args:
            answer = _read_answer(f"Remove PVC storage at {DEFAULT_STORAGE} ? (Y/N): ")
            if answer is None or answer.lower() not in ("y", "yes"):
                return 1
        shutil.rmtree(host.common / "default-storage", ignore_errors=True)
        out(catalog.DISABLE_MESSAGES["hostpath-storage"])
        return 0
    out(f"Disabling {name}")
    _set_addon(host, qualified, False)
    out(catalog.DISABLE_MESSAGES.get(name, f"{name} is disabled"))
    return 0


def cmd_addons(host: Host, args: list) -> int:
    if args[:2] != ["repo", "list"]:
        out("Usage: microk8s addons repo [list|add|remove|update]")
        return 2 if args else 0
    repos = sorted(
        p.name for p in (host.common / "addons").iterdir() if (p / "addons.yaml").exists()
    )
    counts = {r: len([a for a in available_addons(host) if a["repository"] == r]) for r in repos}
    out(f"{'REPO':<11}{'ADDONS':<7}SOURCE")
    for repo in repos:
        out(f"{repo:<11}{counts[repo]:>6} (built-in)")
    return 0
