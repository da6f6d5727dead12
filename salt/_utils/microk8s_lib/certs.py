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


def subject_alt_names(pem_text: str) -> list[str]:
    """Return the subject alternative names (IP addresses and DNS names, as text) of the
    certificate in ``pem_text``; raise ``ValueError``."""
    # cryptography ships with Salt (a dependency of salt itself).
    from cryptography import x509  # noqa: PLC0415 (only this function needs it)

    try:
        certificate = x509.load_der_x509_certificate(der_from_pem(pem_text))
    except ValueError as err:
        raise ValueError(f"not a certificate: {err}") from None
    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    names = extension.value
    return [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] + [
        str(name) for name in names.get_values_for_type(x509.DNSName)
    ]
