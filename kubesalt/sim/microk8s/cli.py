"""``kubesalt sim microk8s ...``."""


def register(subparsers) -> None:
    parser = subparsers.add_parser("microk8s", help="the microk8s simulator")
    parser.set_defaults(func=lambda args: parser.print_help() or 2)
