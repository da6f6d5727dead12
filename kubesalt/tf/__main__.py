"""``python -m kubesalt.tf render-lab --out DIR``: NoCloud seeds of the lab's hosts.

Renders every host's user-data through the real Terraform engine and writes
``DIR/<minion id>/{user-data,meta-data}`` (0600) plus ``DIR/_from_terraform.sls``.
"""

from __future__ import annotations

import argparse
import sys

from kubesalt.tf import render as tf_render
from kubesalt.tf.engine import TerraformError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kubesalt.tf")
    commands = parser.add_subparsers(dest="command", required=True)
    lab = commands.add_parser("render-lab", help="render the lab's hosts into NoCloud seeds")
    lab.add_argument("--out", required=True, help="directory for the seeds")
    lab.add_argument("--control-planes", type=int, default=1)
    lab.add_argument("--workers", type=int, default=2)
    lab.add_argument("--domain", default=tf_render.LAB_DOMAIN)
    args = parser.parse_args(argv)
    try:
        rendered = tf_render.render_lab(args.out, args.control_planes, args.workers, args.domain)
    except (TerraformError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for minion_id in sorted(rendered.user_data):
        print(f"{args.out}/{minion_id}")
    print(f"rendered {len(rendered.user_data)} hosts with {rendered.engine}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
