"""What the lab needs of this machine, and where its pieces are: root, overlayfs, namespaces
and binaries (:func:`requirements_problem`), the work tree it serves (:func:`repo_root`), the
Salt it runs (:func:`salt_bin_dir`), its default state directory and lock."""

from __future__ import annotations

import os
import pathlib
import shutil
import sys

DEFAULT_STATE_DIR = "/var/lib/kubesalt/lab"
DEFAULT_LOCK_PATH = "/run/lock/kubesalt-lab.lock"

REQUIRED_BINARIES = ("ip", "nsenter", "setpriv", "iptables", "start-stop-daemon", "service")


class LabError(RuntimeError):
    """The lab could not do what was asked; the message says what to do."""


def state_dir_default() -> str:
    return os.environ.get("KUBESALT_LAB_DIR", DEFAULT_STATE_DIR)


def lock_path_default() -> str:
    return os.environ.get("KUBESALT_LAB_LOCK", DEFAULT_LOCK_PATH)


def repo_root() -> pathlib.Path:
    """The work tree whose Salt tree and pillar the lab serves.

    The package's own checkout when it runs from one (tests, an editable install), else the
    current directory (``make demo`` after a non-editable ``pip install .``), else
    ``$KUBESALT_REPO``.
    """
    candidates = []
    if os.environ.get("KUBESALT_REPO"):
        candidates.append(pathlib.Path(os.environ["KUBESALT_REPO"]))
    candidates += [pathlib.Path(__file__).resolve().parents[2], pathlib.Path.cwd()]
    for candidate in candidates:
        if (candidate / "salt" / "states").is_dir() and (candidate / "kubesalt").is_dir():
            return candidate.resolve()
    raise LabError(
        "cannot find the kubesalt work tree (salt/states): run from the repository or set "
        "KUBESALT_REPO"
    )


# Directories every host gets fresh (its own tmpfs): a machine path below one of them would
# be hidden in the hosts.
HOST_OWN_DIRS = ("/tmp", "/run", "/dev/shm")  # noqa: S108


def machine_paths_hidden_in_hosts(paths) -> list[str]:
    """Of ``paths`` (which the hosts must see), those a host's own /tmp, /run or /dev/shm
    would hide, outermost only: the lab binds them read-only at the same place (a clone
    of the project under /tmp runs its lab like one under /work)."""
    hidden = set()
    for path in paths:
        resolved = pathlib.Path(os.path.realpath(path))
        if any(resolved.is_relative_to(own) for own in HOST_OWN_DIRS):
            hidden.add(resolved)
    outermost = [
        p for p in hidden if not any(p != other and p.is_relative_to(other) for other in hidden)
    ]
    return sorted(str(p) for p in outermost)


def salt_bin_dir() -> pathlib.Path:
    """The bin directory of the Salt the hosts run: this interpreter's virtualenv."""
    for candidate in (pathlib.Path(sys.executable).parent, repo_root() / ".venv" / "bin"):
        if (candidate / "salt-minion").exists():
            return candidate
    raise LabError(
        f"no salt-minion next to {sys.executable}: run kubesalt from the project's "
        "virtualenv (make venv)"
    )


def requirements_problem() -> str | None:
    """Why the lab cannot run on this machine, or None when it can."""
    if os.geteuid() != 0:
        return (
            "the lab needs root (namespaces, overlayfs mounts, veth links): "
            "run it as root, e.g. sudo make demo"
        )
    try:
        filesystems = pathlib.Path("/proc/filesystems").read_text()
    except OSError:
        filesystems = ""
    if "overlay" not in filesystems.split():
        return (
            "the lab needs overlayfs (kernel module 'overlay'): modprobe overlay, or run on "
            "a kernel with CONFIG_OVERLAY_FS"
        )
    for kind in ("pid", "net", "mnt", "uts", "ipc"):
        if not os.path.exists(f"/proc/self/ns/{kind}"):
            return f"the lab needs {kind} namespaces (kernel without /proc/self/ns/{kind})"
    missing = [name for name in REQUIRED_BINARIES if not shutil.which(name)]
    if missing:
        return (
            f"the lab needs {', '.join(missing)}: apt-get install iproute2 util-linux "
            "iptables dpkg init-system-helpers (make deps)"
        )
    return None
