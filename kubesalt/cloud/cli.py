"""``kubesalt cloud ...``: the lab cloud that ``terraform apply`` runs against.

``kubesalt cloud up`` creates the cloud (API state, provider mirror, clouds.yaml);
``eval "$(kubesalt cloud env)"`` points Terraform and the OpenStack provider at it;
``kubesalt cloud tfvars > terraform/lab.tfvars.json`` writes the lab's variables;
``kubesalt cloud status`` lists what exists; ``kubesalt cloud down`` removes it.
"""

from __future__ import annotations

import json
import pathlib
import shlex

from kubesalt.cloud import install
from kubesalt.cloud.store import TABLES
from kubesalt.cloud.store import Store


def _dir(args) -> pathlib.Path:
    return pathlib.Path(args.dir) if args.dir else install.default_dir()


def cmd_up(args) -> int:
    env = install.install(_dir(args), hosts=args.hosts)
    for key, value in env.items():
        print(f"export {key}={shlex.quote(value)}")
    return 0


def cmd_env(args) -> int:
    root = _dir(args).resolve()
    if not (root / "terraformrc").is_file():
        print(
            f"error: no lab cloud at {root}: run `kubesalt cloud up` first",
            file=__import__("sys").stderr,
        )
        return 1
    for key, value in install.client_env(root).items():
        print(f"export {key}={shlex.quote(value)}")
    return 0


def cmd_status(args) -> int:
    store = Store(_dir(args))
    if not store.exists():
        print("no lab cloud")
        return 1
    document = store.read()
    if args.json:
        print(json.dumps({table: document[table] for table in TABLES}, indent=1, sort_keys=True))
        return 0
    for table in TABLES:
        names = sorted(
            item.get("name") or item.get("address") or item["id"]
            for item in document[table].values()
        )
        print(f"{table:22} {len(names):3}  {' '.join(names)}")
    return 0


def cmd_tfvars(args) -> int:
    from kubesalt.cloud.workspace import deploy_key  # noqa: PLC0415
    from kubesalt.cloud.workspace import lab_tfvars  # noqa: PLC0415

    if args.ssh_public_key:
        key = pathlib.Path(args.ssh_public_key).read_text().strip()
    else:
        key = deploy_key(_dir(args))
    variables = lab_tfvars(key, workers=args.workers, control_planes=args.control_planes)
    print(json.dumps(variables, indent=1))
    return 0


def cmd_demo(args) -> int:
    from kubesalt.cloud import demo  # noqa: PLC0415

    return demo.run(workers=args.workers)


def cmd_operator_ssh(args) -> int:
    from kubesalt.cloud.workspace import Workspace  # noqa: PLC0415
    from kubesalt.lab import lab  # noqa: PLC0415

    state_dir = pathlib.Path(lab.state_dir_default())
    workspace = Workspace(state_dir / "terraform", _dir(args))
    command = workspace.operator_ssh(state_dir / "operator-ssh")
    print(f"export KUBESALT_SSH={shlex.quote(command)}")
    return 0


def cmd_down(args) -> int:
    install.remove(_dir(args))
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "cloud",
        help="the lab cloud (OpenStack-shaped) that terraform apply runs against",
        description=__doc__.split("\n")[0],
    )
    parser.add_argument(
        "--dir",
        help="the cloud's directory (default $KUBESALT_CLOUD_DIR, else $KUBESALT_LAB_DIR/cloud)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="create the cloud and print its client environment")
    up.add_argument(
        "--hosts",
        action="store_true",
        help="back it with lab hosts and networks: instances boot (needs root; docs/lab.md)",
    )
    up.set_defaults(func=cmd_up)
    commands.add_parser("env", help="print the client environment (eval it)").set_defaults(
        func=cmd_env
    )
    status = commands.add_parser("status", help="what exists in the cloud")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)
    tfvars = commands.add_parser(
        "tfvars", help="print the lab's variables for the root module (JSON)"
    )
    tfvars.add_argument("--workers", type=int, default=2)
    tfvars.add_argument("--control-planes", type=int, default=1)
    tfvars.add_argument(
        "--ssh-public-key", help="the deploy user's key (default: the cloud's own, made once)"
    )
    tfvars.set_defaults(func=cmd_tfvars)
    demo = commands.add_parser(
        "demo",
        help="make demo: terraform apply of terraform/ against a backed cloud, wait, summarise",
    )
    demo.add_argument("--workers", type=int, default=2)
    demo.set_defaults(func=cmd_demo)
    commands.add_parser(
        "operator-ssh",
        help="after `cloud demo`: the operator's ssh through the bastion (first login learns "
        "the host keys) as `export KUBESALT_SSH=...` (eval it) for Terraform's node removal",
    ).set_defaults(func=cmd_operator_ssh)
    commands.add_parser(
        "down", help="stop the cloud's hosts and networks, remove its directory"
    ).set_defaults(func=cmd_down)


def main(argv: list[str] | None = None) -> int:
    import argparse  # noqa: PLC0415

    parser = argparse.ArgumentParser(prog="python -m kubesalt.cloud")
    register(parser.add_subparsers(dest="group"))
    args = parser.parse_args(["cloud", *(argv or [])])
    return int(args.func(args) or 0)
