"""The rack <-> region protocol of the simulator: an HMAC over the shared secret.

Real racks talk RPC on ports 5250+ and prove knowledge of the secret with an HMAC
challenge; the simulator does the same over HTTP on the region's port. A wrong secret never
registers: the region answers 403 and the rack logs the failure and retries.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request

MAX_SKEW = 300


def digest(secret_hex: str, message: str) -> str:
    """HMAC-SHA256 keyed by the secret's bytes; a non-hex secret raises binascii.Error."""
    key = binascii.a2b_hex(secret_hex.strip())
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def sign(secret_hex: str, payload: dict) -> dict:
    payload = dict(payload, timestamp=int(time.time()))
    payload["digest"] = digest(secret_hex, f"{payload['hostname']}:{payload['timestamp']}")
    return payload


def verify(secret_hex: str, payload: dict) -> bool:
    try:
        if abs(time.time() - int(payload["timestamp"])) > MAX_SKEW:
            return False
        expected = digest(secret_hex, f"{payload['hostname']}:{payload['timestamp']}")
    except (KeyError, ValueError, TypeError, binascii.Error):
        return False
    return hmac.compare_digest(expected, str(payload.get("digest", "")))


def call(maas_url: str, name: str, payload: dict, timeout: float = 5.0) -> tuple[int, dict]:
    url = maas_url.rstrip("/") + f"/rpc/{name}"
    req = urllib.request.Request(  # noqa: S310 (http URL)
        url,
        data=json.dumps(payload).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (http URL)
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as err:
        try:
            return err.code, json.loads(err.read() or b"{}")
        except ValueError:
            return err.code, {}
