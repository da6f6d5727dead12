"""Launcher scripts (``snap``, ``microk8s``) and the entry point they call.

A launcher's shebang is the Python running the simulator; it carries the host root, address
and hostname baked in, so the executables behave the same whoever calls them. Every call is
recorded in the host's invocation log (argv, exit code, duration, time).
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from pathlib import Path

import kubesalt
from kubesalt.sim.microk8s.host import Host

PACKAGE_PARENT = str(Path(kubesalt.__file__).resolve().parent.parent)
SITE_PACKAGES = [p for p in sys.path if p.endswith("site-packages") and os.path.isdir(p)]

LAUNCHER = """\
#!{python} -S
# Simulated `{prog}` of kubesalt for the host rooted at {root}. Generated: do not edit.
# -S and explicit paths: skipping site's .pth processing saves ~50 ms per command.
import sys
sys.path[0:0] = {paths!r}
from kubesalt.sim.microk8s.launch import run
sys.exit(run({prog!r}, root={root!r}, address={address!r}, hostname={hostname!r}))
"""


def write_launcher(path: Path, prog: str, host: Host, hostname: str | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = LAUNCHER.format(
        python=sys.executable,
        prog=prog,
        root=str(host.root),
        address=host.address,
        hostname=hostname,
        paths=[PACKAGE_PARENT, *SITE_PACKAGES],
    )
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.chmod(tmp, 0o755)  # noqa: S103 - an executable, like /snap/bin/*
    os.replace(tmp, path)


def run(prog: str, root: str, address: str, hostname: str | None) -> int:
    host = Host(root, address, hostname)
    argv = [os.path.basename(sys.argv[0]), *sys.argv[1:]]
    started = time.time()
    code = 1
    try:
        if prog == "snap":
            from kubesalt.sim.microk8s import snapcmd  # noqa: PLC0415 - snapcmd imports us

            code = snapcmd.main(host, sys.argv[1:], hostname)
        else:
            from kubesalt.sim.microk8s import mk8s  # noqa: PLC0415 - only what the call needs

            name = os.path.basename(sys.argv[0])
            args = sys.argv[1:]
            if name.startswith("microk8s."):  # dotted alias: microk8s.status == microk8s status
                args = [name.split(".", 1)[1], *args]
            code = mk8s.main(host, args)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)
    except KeyboardInterrupt:
        code = 130
    except BaseException:  # an uncaught error prints its traceback, exit 1, as Python does
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        try:
            host.log_invocation(argv, code, started, time.time())
        except OSError:
            pass
    return code
