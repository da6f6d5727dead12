"""``kubesalt lab ...``."""


def register(subparsers) -> None:
    parser = subparsers.add_parser("lab", help="isolated hosts on this machine")
    parser.set_defaults(func=lambda args: parser.print_help() or 2)
