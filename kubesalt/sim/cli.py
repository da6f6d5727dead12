"""``kubesalt sim ...``: one sub-command group per simulated product.

Each product's package has a ``cli`` module exposing ``register(subparsers)``.
"""

from __future__ import annotations

import importlib

PRODUCTS = ("kubesalt.sim.microk8s.cli", "kubesalt.sim.maas.cli")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "sim", help="simulators of MicroK8s and MAAS for tests and the lab"
    )
    products = parser.add_subparsers(dest="product", metavar="PRODUCT")
    for name in PRODUCTS:
        importlib.import_module(name).register(products)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)
