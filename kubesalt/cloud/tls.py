"""``hashicorp/tls`` for the lab: ``tls_private_key``, as the real provider computes it.

The real provider cannot be had offline (no registry, no package carries it), so the lab
serves it under the same source address with the schema generated from its source
(``data/tls-schema.json``, v4.2.1) and the same outputs: PKCS#1 PEM for RSA, SEC1 for ECDSA,
PKCS#8 for ED25519, OpenSSH encodings, MD5/SHA256 fingerprints, ``id`` = SHA-1 of the DER
public key.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.asymmetric import rsa

from kubesalt.cloud.plugin import ProviderError
from kubesalt.cloud.provider import Base
from kubesalt.cloud.provider import settle

CURVES = {"P224": ec.SECP224R1, "P256": ec.SECP256R1, "P384": ec.SECP384R1, "P521": ec.SECP521R1}


def generate(algorithm: str, rsa_bits: int, ecdsa_curve: str) -> dict:
    if algorithm == "RSA":
        key = rsa.generate_private_key(public_exponent=65537, key_size=int(rsa_bits))
        private_format = serialization.PrivateFormat.TraditionalOpenSSL
    elif algorithm == "ECDSA":
        if ecdsa_curve not in CURVES:
            raise ProviderError(
                "Invalid Attribute Value Match", f"ecdsa_curve must be one of {sorted(CURVES)}"
            )
        key = ec.generate_private_key(CURVES[ecdsa_curve]())
        private_format = serialization.PrivateFormat.TraditionalOpenSSL
    elif algorithm == "ED25519":
        key = ed25519.Ed25519PrivateKey.generate()
        private_format = serialization.PrivateFormat.PKCS8
    else:
        raise ProviderError(
            "Invalid Key Algorithm", f'Key Algorithm "{algorithm}" is not supported'
        )
    public = key.public_key()
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    values = {
        "private_key_pem": key.private_bytes(
            serialization.Encoding.PEM, private_format, serialization.NoEncryption()
        ).decode(),
        "private_key_pem_pkcs8": key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
        "public_key_pem": public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode(),
        # hashForState(): SHA-1 of strings.TrimSpace of the DER bytes, as the provider does
        "id": hashlib.sha1(der.strip(b" \t\n\r\v\f")).hexdigest(),  # noqa: S324
        "private_key_openssh": "",
        "public_key_openssh": "",
        "public_key_fingerprint_md5": "",
        "public_key_fingerprint_sha256": "",
    }
    if not (algorithm == "ECDSA" and ecdsa_curve == "P224"):  # OpenSSH has no P-224
        openssh = public.public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        blob = base64.b64decode(openssh.split()[1])
        values["public_key_openssh"] = openssh.decode() + "\n"
        values["private_key_openssh"] = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        ).decode()
        md5 = hashlib.md5(blob).hexdigest()  # noqa: S324 (the fingerprint format)
        values["public_key_fingerprint_md5"] = ":".join(md5[i : i + 2] for i in range(0, 32, 2))
        values["public_key_fingerprint_sha256"] = "SHA256:" + base64.b64encode(
            hashlib.sha256(blob).digest()
        ).decode().rstrip("=")
    return values


class TLSProvider(Base):
    name = "tls"
    schema_file = "tls"

    def create(self, type_name: str, planned: dict, config: dict) -> dict:
        if type_name != "tls_private_key":
            raise ProviderError(f"{type_name} is not supported by the lab's tls provider")
        values = generate(
            planned["algorithm"],
            planned.get("rsa_bits") or 2048,
            planned.get("ecdsa_curve") or "P224",
        )
        return settle(self.schemas["resources"][type_name]["block"], planned, values)
