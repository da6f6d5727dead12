"""Launcher scripts (``snap``, ``microk8s``); the entry point they call is
:func:`kubesalt.sim.microk8s.launch.run`.

A launcher's shebang is the Python running the simulator; it carries the host root, address
and hostname baked in, so the executables behave the same whoever calls them. Every call is
recorded in the host's invocation log (argv, exit code, duration, time).
"""

from __future__ import annotations

import os
import sys
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
