"""The datastore backups ``microk8s dbctl`` makes: their names, how many stay, and the archive
``orch.restore`` hands a control plane through its pillar."""

from __future__ import annotations

import base64
import os
import pathlib
import time

ARCHIVE_PREFIX = "backup-"
ARCHIVE_SUFFIX = ".tar.gz"


def keep_count(keep) -> int:
    """``keep`` as a whole number >= 1; ValueError naming the argument otherwise."""
    try:
        count = int(keep)
        if count < 1:
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError(f"keep: a whole number >= 1, not {keep!r}") from None
    return count


def private_folder(folder: pathlib.Path) -> None:
    """Make ``folder`` (and its parents) with mode 0700; an existing one becomes 0700."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)


def archive_base(folder: pathlib.Path, now: float) -> pathlib.Path:
    """The ``-o`` of ``dbctl backup``: dbctl's own naming, ``backup-%Y-%m-%d-%H-%M-%S`` in
    UTC (it adds ``.tar.gz``)."""
    return folder / time.strftime("backup-%Y-%m-%d-%H-%M-%S", time.gmtime(now))


def prune(folder: pathlib.Path, keep: int) -> list[str]:
    """Delete all but the ``keep`` newest archives in ``folder``; return those deleted."""
    archives = sorted(folder.glob(f"{ARCHIVE_PREFIX}*{ARCHIVE_SUFFIX}"))
    removed = archives[:-keep]
    for old in removed:
        old.unlink()
    return [str(old) for old in removed]


def write_handed_archive(found, key: str, folder: pathlib.Path) -> pathlib.Path:
    """Write the archive ``orch.restore`` put in pillar ``key`` (``{"name", "data":
    base64}``) into ``folder`` (0700), the file 0600; return its path. ValueError with what
    to do when the pillar holds none or not a dbctl archive."""
    if not isinstance(found, dict) or not found.get("data") or not found.get("name"):
        raise ValueError(
            f"pillar {key} holds no archive: run salt-run state.orchestrate orch.restore "
            "(it hands this control plane the latest backup), or refresh this minion's pillar"
        )
    name = pathlib.PurePosixPath(str(found["name"])).name
    if not name.startswith(ARCHIVE_PREFIX) or not name.endswith(ARCHIVE_SUFFIX):
        raise ValueError(f"pillar {key}: {name!r} is not a dbctl backup archive")
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = folder / name
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(base64.b64decode(found["data"]))
    return target
