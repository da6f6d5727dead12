"""``kubesalt sim microk8s ...``: set up simulated hosts and turn their knobs."""

from __future__ import annotations

import contextlib
import json
import shlex
import sys

from kubesalt.sim.microk8s import agent
from kubesalt.sim.microk8s import agentd
from kubesalt.sim.microk8s.host import KNOB_DEFAULTS
from kubesalt.sim.microk8s.host import Host
from kubesalt.sim.microk8s.host import default_ip
from kubesalt.sim.microk8s.snapcmd import install_launcher
from kubesalt.sim.microk8s.snapcmd import launcher_path


def register(subparsers) -> None:
    parser = subparsers.add_parser("microk8s", help="the microk8s simulator")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    install = commands.add_parser(
        "install-snap",
        help="write the `snap` launcher for a host (ROOT/bin/snap; /usr/local/bin/snap on /)",
    )
    _identity_args(install)
    install.set_defaults(func=_install_snap)

    shell_env = commands.add_parser(
        "shell-env", help="print the export lines that put a host's snap and microk8s on PATH"
    )
    _identity_args(shell_env)
    shell_env.set_defaults(func=_shell_env)

    knob = commands.add_parser(
        "knob",
        help="set knobs of a host: "
        + ", ".join(f"{k} (default {v})" for k, v in KNOB_DEFAULTS.items()),
    )
    knob.add_argument("--root", required=True)
    knob.add_argument("--address", help="default: the address the host was set up with")
    knob.add_argument("--hostname")
    knob.add_argument("settings", nargs="*", metavar="KEY=VALUE")
    knob.set_defaults(func=_knob)

    stop = commands.add_parser("stop-agent", help="stop a host's cluster agent")
    stop.add_argument("--root", required=True)
    stop.set_defaults(func=_stop_agent)

    parser.set_defaults(func=lambda args: parser.print_help() or 2)


def _identity_args(parser) -> None:
    parser.add_argument("--root", required=True, help="the host's root directory (/ in a lab host)")
    parser.add_argument(
        "--address",
        help="the IPv4 the node presents (default: the default-route interface's address)",
    )
    parser.add_argument(
        "--hostname", help="the node name (default: the real hostname on /, else node-<address>)"
    )


def _host(args) -> Host | None:
    address = args.address or default_ip()
    if address == "none":
        print("error: no default route to take the address from; pass --address", file=sys.stderr)
        return None
    return Host(args.root, address, args.hostname)


def _install_snap(args) -> int:
    host = _host(args)
    if host is None:
        return 2
    print(install_launcher(host, args.hostname, bind_from_args=not args.address))
    return 0


def _shell_env(args) -> int:
    host = None
    if not args.address:
        # A host set up before keeps its identity: do not re-address it to the default IP.
        with contextlib.suppress(ValueError):
            host = Host.from_root(args.root, None, args.hostname)
    host = host or _host(args)
    if host is None:
        return 2
    snap = launcher_path(host)
    if not snap.exists() or args.address:
        snap = install_launcher(host, args.hostname, bind_from_args=not args.address)
    path = f"{snap.parent}:{host.snap_bin}"
    print(f'export PATH={shlex.quote(path)}:"$PATH"')
    print(f"export KUBESALT_SIM_ROOT={shlex.quote(str(host.root))}")
    print(f"export KUBESALT_SIM_ADDRESS={shlex.quote(host.address)}")
    return 0


def _knob(args) -> int:
    try:
        host = Host.from_root(args.root, args.address, args.hostname)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    changes = {}
    for setting in args.settings:
        key, sep, value = setting.partition("=")
        if not sep:
            print(f"error: expected KEY=VALUE, got {setting!r}", file=sys.stderr)
            return 2
        changes[key] = value
    try:
        values = host.update_knobs(**changes)
    except (KeyError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _apply_side_effects(host, changes, values)
    print(json.dumps(values, sort_keys=True))
    return 0


def _apply_side_effects(host: Host, changes: dict, values: dict) -> None:
    """Make the running host match the knobs: the agent's liveness and stopped.lock."""
    if not host.installed():
        return
    if "stopped" in changes:
        was_stopped = host.is_stopped()
        host.set_lock("stopped.lock", values["stopped"])
        host.set_active(not values["stopped"])
        if was_stopped and not values["stopped"]:
            host.mark_started()  # the ready delay counts from the restart
    if values["stopped"] or values["agent_unreachable"]:
        agent.stop_agent(host)
    elif "stopped" in changes or "agent_unreachable" in changes:
        agentd.start_agent(host)
        agent.pull_state(host)


def _stop_agent(args) -> int:
    agent.stop_agent(Host(args.root, "127.0.0.1"))  # the address is not used to stop
    return 0
