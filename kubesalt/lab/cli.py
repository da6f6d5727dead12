"""``kubesalt lab ...``: isolated hosts on this machine (see docs/lab.md)."""

from __future__ import annotations

import argparse
import json
import sys
import time

from kubesalt.lab import demo
from kubesalt.lab import topology
from kubesalt.lab.lab import BOOT_MODES
from kubesalt.lab.lab import Lab
from kubesalt.lab.lab import LabError
from kubesalt.lab.lab import running_lab

BOOT_OPTION = {
    "choices": BOOT_MODES,
    "default": "salt",
    "help": "salt: the lab configures Salt and accepts each key (default); cloud-init: every "
    "host boots from the user-data Terraform renders, through real cloud-init",
}


MAAS_HELP = (
    "add the MAAS hosts: maas-region (10.1.0.30, PostgreSQL + region) and maas-rack-0/1 "
    "(10.1.0.31/32), with the MAAS simulator installed"
)


BARE_METAL_OPTION = {
    "type": int,
    "nargs": "?",
    "const": 2,
    "default": 0,
    "metavar": "N",
    "help": "with --maas: N machines for MAAS to deploy (k8s-bm-0..N-1 at 10.1.0.120..., "
    "default 2), powered off until the lab's power driver boots the user-data MAAS deploys "
    "them with through real cloud-init",
}


def _progress(started: float):
    def report(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {message}", flush=True)

    return report


def _lab(args) -> Lab:
    return Lab(args.state_dir)


def cmd_up(args) -> int:
    lab = _lab(args)
    info = lab.up(
        workers=args.workers,
        control_planes=args.control_planes,
        domain=args.domain,
        progress=_progress(time.monotonic()),
        salt=not args.no_salt,
        boot=args.boot,
        maas=args.maas,
        bare_metal=args.bare_metal,
    )
    _print_hosts(info["hosts"])
    return 0


def _print_hosts(hosts: list[dict]) -> None:
    print(f"{'HOST':<16} {'PRIVATE':<12} {'PUBLIC':<12} ROLES")
    for host in hosts:
        print(
            f"{host['name']:<16} {host.get('private_ip') or '-':<12} "
            f"{host.get('public_ip') or '-':<12} {','.join(host['roles']) or '-'}"
            + ("" if "running" not in host else ("" if host["running"] else "  (NOT RUNNING)"))
        )


def cmd_status(args) -> int:
    status = _lab(args).status()
    if args.json:
        print(json.dumps(status, indent=1))
    else:
        print(f"lab: {'up' if status['up'] else 'down'} (state in {status['state_dir']})")
        elsewhere = running_lab()
        if not status["up"] and elsewhere:
            print(f"another lab is up on this machine: kubesalt lab --state-dir {elsewhere} ...")
        if status["up"]:
            print(f"domain: {status['domain']}")
            _print_hosts(status["hosts"])
    return 0 if status["up"] else 3


def _command(args) -> list[str]:
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    return command


def cmd_exec(args) -> int:
    command = _command(args)
    if not command:
        raise LabError("nothing to run: kubesalt lab exec HOST -- COMMAND...")
    return _lab(args).exec(args.host, command, capture=False, timeout=None).returncode


def cmd_salt(args) -> int:
    return _lab(args).salt(_command(args), capture=False, timeout=None).returncode


def cmd_down(args) -> int:
    took = _lab(args).down()
    print(f"lab down ({took:.1f} s)")
    return 0


def cmd_demo(args) -> int:
    return demo.run(
        _lab(args),
        workers=args.workers,
        domain=args.domain,
        boot=args.boot,
        maas=args.maas,
        bare_metal=args.bare_metal,
    )


def _guard(func):
    def run(args) -> int:
        try:
            return func(args)
        except LabError as exc:
            print(f"kubesalt lab: {exc}", file=sys.stderr)
            return 1

    return run


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "lab",
        help="isolated hosts on this machine (namespaces + overlayfs), with Salt in them",
    )
    parser.add_argument(
        "--state-dir",
        default=None,
        help="where the lab keeps its state (default $KUBESALT_LAB_DIR or /var/lib/kubesalt/lab)",
    )
    commands = parser.add_subparsers(dest="lab_command", metavar="COMMAND")

    up = commands.add_parser("up", help="bring the lab up (salt, bastion, control planes, workers)")
    up.add_argument("--workers", type=int, default=2, help="number of workers (default 2)")
    up.add_argument(
        "--control-planes", type=int, default=1, help="number of control planes (default 1)"
    )
    up.add_argument("--domain", default=topology.DEFAULT_DOMAIN, help="DNS domain of the hosts")
    up.add_argument(
        "--no-salt", action="store_true", help="hosts and network only, no Salt daemons"
    )
    up.add_argument("--boot", **BOOT_OPTION)
    up.add_argument("--maas", action="store_true", help=MAAS_HELP)
    up.add_argument("--bare-metal", **BARE_METAL_OPTION)
    up.set_defaults(func=_guard(cmd_up))

    status = commands.add_parser("status", help="is the lab up, and its hosts")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=_guard(cmd_status))

    exec_ = commands.add_parser("exec", help="run a command in a host: exec HOST -- CMD...")
    exec_.add_argument("host", help="short host name, e.g. k8s-master")
    exec_.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND...")
    exec_.set_defaults(func=_guard(cmd_exec))

    salt = commands.add_parser("salt", help="run `salt ARGS...` on the master host")
    salt.add_argument("command", nargs=argparse.REMAINDER, help="-- ARGS...")
    salt.set_defaults(func=_guard(cmd_salt))

    down = commands.add_parser("down", help="tear the lab down (idempotent)")
    down.set_defaults(func=_guard(cmd_down))

    demo = commands.add_parser(
        "demo", help="bring up a lab, converge a MicroK8s cluster with Salt, leave it up"
    )
    demo.add_argument("--workers", type=int, default=2, help="number of workers (default 2)")
    demo.add_argument("--domain", default=topology.DEFAULT_DOMAIN, help="DNS domain of the hosts")
    demo.add_argument("--boot", **BOOT_OPTION)
    demo.add_argument("--maas", action="store_true", help=MAAS_HELP)
    demo.add_argument("--bare-metal", **BARE_METAL_OPTION)
    demo.set_defaults(func=_guard(cmd_demo))

    parser.set_defaults(func=lambda args: parser.print_help() or 2)
