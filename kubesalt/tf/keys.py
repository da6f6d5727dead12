"""Salt key pairs in the encodings Salt itself writes, and Salt's key fingerprint.

Salt compares a presented minion key with the accepted one as text, so the encodings matter:
public keys are SPKI PEM (``BEGIN PUBLIC KEY``), private keys PKCS#1 PEM (``BEGIN RSA PRIVATE
KEY``) -- the same as Terraform's ``tls_private_key``.
"""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def generate_key_pair(bits: int = 2048) -> dict[str, str]:
    """Return ``{"public_key_pem": ..., "private_key_pem": ...}`` for a new RSA key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode("ascii")
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )
    return {"public_key_pem": public_pem, "private_key_pem": private_pem}


def salt_fingerprint(public_key_pem: str) -> str:
    """Salt's ``pem_finger`` (sha256): the hash of the PEM body lines, each with its newline.

    Not the hash of the DER bytes: Salt hashes the base64 text (salt/utils/crypt.py), which is
    why Terraform can compute the same value with ``sha256()``.
    """
    lines = [line.strip() for line in public_key_pem.replace("\r\n", "\n").split("\n")]
    body = "".join(f"{line}\n" for line in lines if line and not line.startswith("-----"))
    digest = hashlib.sha256(body.encode("ascii")).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))
