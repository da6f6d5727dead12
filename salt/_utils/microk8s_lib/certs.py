"""The join CHECK: first 12 hex characters of the SHA-256 of ``server.crt`` in DER form."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

_PEM_RE = re.compile(
    r"-----BEGIN CERTIFICATE-----\s*(?P<body>[A-Za-z0-9+/=\s]+?)\s*-----END CERTIFICATE-----"
)

CHECK_LENGTH = 12


def der_from_pem(pem_text: str) -> bytes:
    """Return the DER bytes of the first certificate in ``pem_text``; raise ``ValueError``."""
    match = _PEM_RE.search(pem_text or "")
    if not match:
        raise ValueError("no PEM certificate found")
    try:
        return base64.b64decode("".join(match["body"].split()), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the PEM certificate is not valid base64") from None


def fingerprint(pem_text: str) -> str:
    """Return the 12-hex join CHECK of the certificate in ``pem_text``."""
    return hashlib.sha256(der_from_pem(pem_text)).hexdigest()[:CHECK_LENGTH]
