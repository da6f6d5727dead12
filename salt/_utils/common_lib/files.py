"""Reading the master's and minions' own files: a file that is not there yet is ``None``,
not an error (a pending key, an inventory Terraform has not written, a key pair not made)."""

from __future__ import annotations


def read_text(path) -> str | None:
    """The UTF-8 text of ``path``, or ``None`` if it does not exist (other errors raise)."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
