"""``kubesalt sim maas ...``: create simulated MAAS hosts, set fault knobs, stop daemons."""

from __future__ import annotations

import json

from kubesalt.sim.maas import host as maas_host
from kubesalt.sim.maas import postgres


def register(subparsers) -> None:
    parser = subparsers.add_parser("maas", help="the MAAS simulator (region API, racks)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")

    install = actions.add_parser(
        "install", help="create a simulated MAAS host: ROOT/usr/local/bin/maas and maas-rack"
    )
    install.add_argument("--root", required=True, help="directory standing for the host's /")
    install.add_argument("--version", choices=sorted(maas_host.VERSIONS), default=None)
    install.add_argument("--address", help="address of the host (the region API binds :5240)")
    install.add_argument("--hostname", help="hostname the controller registers as")
    install.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a timing setting (import_seconds=..., rack_dead_after=...)",
    )
    install.set_defaults(func=_install)

    fault = actions.add_parser(
        "fault",
        help="set fault knobs: " + "; ".join(f"{k}: {v}" for k, v in maas_host.FAULT_KEYS.items()),
    )
    fault.add_argument("--root", required=True)
    fault.add_argument("knobs", nargs="*", metavar="KEY=VALUE (JSON value; empty clears)")
    fault.set_defaults(func=_fault)

    stop = actions.add_parser("stop", help="stop the host's regiond and rackd daemons")
    stop.add_argument("--root", required=True)
    stop.set_defaults(func=_stop)

    status = actions.add_parser("status", help="the host's mode, version and daemons as JSON")
    status.add_argument("--root", required=True)
    status.set_defaults(func=_status)
    pg = actions.add_parser(
        "postgres", help="start/stop a private PostgreSQL 15 cluster (e.g. in a lab region host)"
    )
    pg.add_argument("op", choices=("start", "stop"))
    pg.add_argument("--dir", required=True, help="cluster directory (created, owned by postgres)")
    pg.add_argument("--address", help="listen address (start)")
    pg.add_argument("--port", type=int, default=5432)
    pg.add_argument("--allow", help="CIDR allowed over TCP with a password, e.g. 10.1.0.0/16")
    pg.add_argument("--remove", action="store_true", help="stop: also delete the directory")
    pg.set_defaults(func=_postgres)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)


def _parse_value(text: str):
    if text == "":
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _install(args) -> int:
    extra = {}
    for item in args.set:
        key, _, value = item.partition("=")
        extra[key] = _parse_value(value)
    host = maas_host.install(
        args.root, version=args.version, address=args.address, hostname=args.hostname, **extra
    )
    print(host.bin_dir)
    return 0


def _fault(args) -> int:
    knobs = {}
    for item in args.knobs:
        key, _, value = item.partition("=")
        if key not in maas_host.FAULT_KEYS:
            print(f"unknown fault knob {key!r}; known: {', '.join(maas_host.FAULT_KEYS)}")
            return 2
        knobs[key] = _parse_value(value)
    print(json.dumps(maas_host.Host(args.root).set_faults(**knobs)))
    return 0


def _stop(args) -> int:
    maas_host.Host(args.root).stop_all()
    return 0


def _status(args) -> int:
    host = maas_host.Host(args.root)
    print(
        json.dumps(
            {
                "mode": host.snap_mode(),
                "version": host.version,
                "regiond": host.daemon_pid("regiond"),
                "rackd": host.daemon_pid("rackd"),
                "faults": host.faults(),
            }
        )
    )
    return 0


def _postgres(args) -> int:
    if args.op == "start":
        if not args.address:
            print("--address is required to start")
            return 2
        cluster = postgres.start(args.dir, args.address, args.port, allow=args.allow)
        print(
            json.dumps(
                {"host": cluster.host, "port": cluster.port, "socket_dir": cluster.socket_dir}
            )
        )
        return 0
    postgres.stop(postgres.load(args.dir), remove=args.remove)
    return 0
