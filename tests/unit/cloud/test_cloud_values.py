"""Values on the wire (cty msgpack) and the tls provider's keys."""

import base64
import hashlib
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization

from kubesalt.cloud import tls
from kubesalt.cloud import values
from kubesalt.cloud.values import UNKNOWN


def test_roundtrip_with_unknowns():
    type_ = [
        "object",
        {
            "a": "string",
            "n": "number",
            "l": ["list", ["object", {"x": "bool"}]],
            "m": ["map", "string"],
        },
    ]
    value = {"a": UNKNOWN, "n": 3, "l": [{"x": True}], "m": {"k": "v"}}
    assert values.decode(values.encode(value, type_)) == value


def test_conform_fills_missing_attributes_and_numbers():
    type_ = ["object", {"a": "string", "n": "number", "b": "bool"}]
    assert values.conform({"n": "42"}, type_) == {"a": None, "n": 42, "b": None}


def test_refined_unknown_decodes_as_unknown():
    # Terraform >= 1.6 sends refined unknowns as extension 12
    import msgpack

    raw = msgpack.packb({"a": msgpack.ExtType(12, b"\x81\x01\xc3")})
    assert values.decode(raw) == {"a": UNKNOWN}


@pytest.mark.parametrize(
    ("algorithm", "begin"),
    [("RSA", "-----BEGIN RSA PRIVATE KEY-----"), ("ED25519", "-----BEGIN PRIVATE KEY-----")],
)
def test_tls_private_key(algorithm, begin, tmp_path):
    key = tls.generate(algorithm, 2048, "P224")
    assert key["private_key_pem"].startswith(begin)
    public = serialization.load_pem_public_key(key["public_key_pem"].encode())
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # hashForState: SHA-1 of strings.TrimSpace(DER) (an ED25519 key may end in a space byte)
    assert key["id"] == hashlib.sha1(der.strip(b" \t\n\r\v\f")).hexdigest()  # noqa: S324
    assert key["public_key_openssh"].endswith("\n")
    blob = base64.b64decode(key["public_key_openssh"].split()[1])
    sha = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    assert key["public_key_fingerprint_sha256"] == f"SHA256:{sha}"
    path = tmp_path / "k.pub"
    path.write_text(key["public_key_openssh"])
    result = subprocess.run(
        ["ssh-keygen", "-l", "-E", "md5", "-f", str(path)],
        check=False,
        capture_output=True,
        text=True,
    )
    if result.returncode == 0:
        assert f"MD5:{key['public_key_fingerprint_md5']}" in result.stdout


def test_tls_p224_has_no_openssh_form():
    key = tls.generate("ECDSA", 0, "P224")
    assert key["public_key_openssh"] == "" and key["public_key_fingerprint_sha256"] == ""
