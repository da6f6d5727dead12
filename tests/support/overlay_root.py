"""Can this machine give a test a throwaway copy-on-write root (overlayfs over / inside
private namespaces)? Used by the tests that boot real cloud-init from rendered user-data."""

import os
import shutil
import subprocess

_PROBE = (
    'mount --make-rprivate / && mount -t tmpfs probe "$1" && mkdir "$1/u" "$1/w" "$1/m" && '
    'mount -t overlay probe -o lowerdir=/,upperdir="$1/u",workdir="$1/w" "$1/m"'
)


def overlay_root_problem(scratch_dir, tools=("unshare", "cloud-init")) -> str | None:
    """None when possible, else why not. ``scratch_dir``: an empty directory of the test's
    own (the probe's mounts die with its namespace; nothing is left on the machine)."""
    if os.geteuid() != 0:
        return "needs root (mount namespaces and overlayfs for a throwaway root)"
    for tool in tools:
        if not shutil.which(tool):
            return f"needs {tool}"
    probe = subprocess.run(
        ["unshare", "--mount", "--fork", "sh", "-c", _PROBE, "probe", str(scratch_dir)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if probe.returncode != 0:
        return f"overlayfs over / in a mount namespace is not possible: {probe.stderr.strip()}"
    return None
