"""``python -m kubesalt.cloud serve openstack|tls``: what the providers' launchers run."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) >= 2 and argv[0] == "serve":
        from kubesalt.cloud import plugin  # noqa: PLC0415

        if argv[1] == "openstack":
            from kubesalt.cloud.openstack import OpenStackProvider  # noqa: PLC0415

            return plugin.serve(OpenStackProvider())
        if argv[1] == "tls":
            from kubesalt.cloud.tls import TLSProvider  # noqa: PLC0415

            return plugin.serve(TLSProvider())
    from kubesalt.cloud.cli import main as cli_main  # noqa: PLC0415

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
