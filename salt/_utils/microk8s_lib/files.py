"""Files the ``microk8s`` module writes in MicroK8s' data and on the operator's behalf: replaced
atomically (a temporary file in the same directory, then a rename), with the mode and owner
they must have from their first byte."""

from __future__ import annotations

import os
import pathlib
import pwd
import tempfile


def owner_ids(user: str) -> tuple[int, int]:
    """``(uid, gid)`` of ``user`` (its primary group); ValueError naming it when unknown."""
    try:
        entry = pwd.getpwnam(str(user))
    except KeyError:
        raise ValueError(f"user: no such user {user!r} on this host") from None
    return entry.pw_uid, entry.pw_gid


def replace(
    path: pathlib.Path,
    text: str,
    mode: int,
    owner: tuple[int, int] | None = None,
    *,
    owner_optional: bool = False,
) -> None:
    """Replace ``path`` with ``text``, mode ``mode`` and, given, ``owner``; with
    ``owner_optional`` a refused ``chown`` (not root) leaves the file ours."""
    fd, tmp = tempfile.mkstemp(dir=str(path.parent), prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        if owner is not None:
            try:
                os.fchown(fd, *owner)
            except PermissionError:
                if not owner_optional:
                    raise
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def replace_preserving(path: pathlib.Path, text: str, default_mode: int) -> None:
    """Replace ``path`` atomically, keeping its mode and owner (new files: ``default_mode``)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        replace(path, text, default_mode)
        return
    replace(path, text, info.st_mode & 0o7777, (info.st_uid, info.st_gid), owner_optional=True)
