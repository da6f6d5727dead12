"""Join-token bookkeeping of a control plane: ``credentials/cluster-tokens.txt``.

One token per line, ``TOKEN`` (single use) or ``TOKEN|EXPIRY`` (unix seconds, reusable until
then). The cluster agent decides on the FIRST line whose token matches, and never prunes
expired lines: an expired line shadows any later line for the same token (reference §3.5).
"""

from __future__ import annotations

ABSENT = "absent"
VALID = "valid"
EXPIRING = "expiring"  # valid now, but not for the wanted margin
EXPIRED = "expired"  # the first line is expired: later lines for the token are shadowed
SINGLE_USE = "single-use"


def _matches(line: str, token: str) -> bool:
    return line.strip().split("|", 1)[0] == token


def evaluate(text: str, token: str, now: float, margin: float = 0, persistent_text="") -> str:
    """Return the standing of ``token`` as the cluster agent will judge it."""
    for line in (persistent_text or "").splitlines():
        if line.strip() == token:
            return VALID
    for line in (text or "").splitlines():
        if not _matches(line, token):
            continue
        _, sep, expiry = line.strip().partition("|")
        if not sep:
            return SINGLE_USE
        try:
            expires_at = float(expiry)
        except ValueError:
            # The agent's parse fails too; the line is as good as expired and shadows the rest.
            return EXPIRED
        if expires_at <= now:
            return EXPIRED
        if expires_at <= now + margin:
            return EXPIRING
        return VALID
    return ABSENT


def without_token(text: str, token: str) -> str:
    """Return the file text with every line of ``token`` removed (other lines untouched)."""
    kept = [line for line in (text or "").splitlines(keepends=True) if not _matches(line, token)]
    result = "".join(kept)
    if result and not result.endswith("\n"):
        result += "\n"
    return result


def has_token(text: str, token: str) -> bool:
    return any(_matches(line, token) for line in (text or "").splitlines())


def default_margin(ttl) -> float:
    """Re-register when less than half the TTL (at most one hour) is left."""
    if not ttl:
        return 0
    return min(ttl / 2, 3600)
