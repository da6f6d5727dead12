"""Keep secrets out of messages and log lines: every module masks them the same way."""

from __future__ import annotations

MASK = "***"


def redact(text, secrets) -> str:
    """Return ``text`` with every non-empty secret replaced by ``***``."""
    result = "" if text is None else str(text)
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        result = result.replace(secret, MASK)
    return result


def redact_argv(argv, secrets) -> list[str]:
    """Every argument of ``argv`` redacted."""
    return [redact(arg, secrets) for arg in argv]
