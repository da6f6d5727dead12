"""The ``kubesalt`` command.

Each command group lives with the code it drives and registers its own sub-commands:
``kubesalt sim ...`` in :mod:`kubesalt.sim.cli`, ``kubesalt lab ...`` in :mod:`kubesalt.lab.cli`.
A group module exposes ``register(subparsers)``, which adds one parser whose ``func``
default is called with the parsed arguments and returns the exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_GROUPS = ("kubesalt.sim.cli", "kubesalt.lab.cli", "kubesalt.cloud.cli")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kubesalt",
        description="MicroK8s and MAAS with Salt: simulators and the local lab.",
    )
    subparsers = parser.add_subparsers(dest="group", metavar="COMMAND")
    for name in COMMAND_GROUPS:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
