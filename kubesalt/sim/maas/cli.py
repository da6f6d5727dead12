"""``kubesalt sim maas ...``."""


def register(subparsers) -> None:
    parser = subparsers.add_parser("maas", help="the maas simulator")
    parser.set_defaults(func=lambda args: parser.print_help() or 2)
