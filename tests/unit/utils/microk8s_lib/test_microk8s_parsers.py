"""Pure helpers of microk8s_lib, driven by the cases in cases/*.yaml."""

import hashlib
import re

import pytest
from cryptography.hazmat.primitives import serialization

from microk8s_lib import certs
from microk8s_lib import cluster
from microk8s_lib import csr
from microk8s_lib import snap
from microk8s_lib import status
from microk8s_lib import tokens
from microk8s_lib import validate
from tests.support.cases import load_cases
from tests.support.certs import self_signed_certificate

DEFAULT_TEMPLATE = """[ req ]
default_bits = 2048
prompt = no
default_md = sha256
req_extensions = req_ext
distinguished_name = dn

[ dn ]
C = GB
ST = Canonical
L = Canonical
O = Canonical
OU = Canonical
CN = 127.0.0.1

[ req_ext ]
subjectAltName = @alt_names

[ alt_names ]
DNS.1 = kubernetes
DNS.2 = kubernetes.default
DNS.3 = kubernetes.default.svc
DNS.4 = kubernetes.default.svc.cluster
DNS.5 = kubernetes.default.svc.cluster.local
IP.1 = 127.0.0.1
IP.2 = 10.152.183.1
#MOREIPS

[ v3_ext ]
authorityKeyIdentifier=keyid,issuer:always
basicConstraints=CA:FALSE
keyUsage=keyEncipherment,dataEncipherment,digitalSignature
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=@alt_names
"""


@pytest.mark.parametrize("case", load_cases(__file__, "status"))
def test_parse_status(case):
    assert status.parse_status(case["text"]) == case["expected"]


@pytest.mark.parametrize("case", load_cases(__file__, "status_errors"))
def test_parse_status_rejects_and_quotes(case):
    with pytest.raises(ValueError) as err:
        status.parse_status(case["text"])
    for fragment in case["message_contains"]:
        assert fragment in str(err.value)


def test_status_yaml_trailing_spaces_really_in_case():
    # Guard against an editor stripping the quirk the case is about.
    text = next(c.values[0]["text"] for c in load_cases(__file__, "status"))
    assert "    version:  \n" in text


@pytest.mark.parametrize("case", load_cases(__file__, "snap_list"))
def test_parse_snap_list(case):
    assert snap.parse_snap_list(case["text"]) == case["expected"]


def test_parse_snap_list_rejects_unknown_header():
    with pytest.raises(ValueError, match="unexpected header"):
        snap.parse_snap_list("error: cannot communicate with server\n")


@pytest.mark.parametrize("case", load_cases(__file__, "version"))
def test_parse_version(case):
    if "error" in case:
        with pytest.raises(ValueError, match=re.escape(case["error"])):
            snap.parse_version(case["text"])
    else:
        assert snap.parse_version(case["text"]) == case["expected"]


@pytest.mark.parametrize("case", load_cases(__file__, "snap_services"))
def test_snap_services_running(case):
    assert snap.services_running(snap.parse_snap_services(case["text"])) is case["running"]


@pytest.mark.parametrize("case", load_cases(__file__, "add_node"))
def test_parse_add_node(case):
    if "error" in case:
        with pytest.raises(ValueError, match=re.escape(case["error"])):
            cluster.parse_add_node(case["text"])
    else:
        assert cluster.parse_add_node(case["text"]) == case["expected"]


@pytest.mark.parametrize("case", load_cases(__file__, "nodes"))
def test_parse_nodes(case):
    if "error" in case:
        with pytest.raises(ValueError, match=re.escape(case["error"])):
            cluster.parse_nodes(case["text"])
    else:
        assert cluster.parse_nodes(case["text"]) == case["expected"]


@pytest.mark.parametrize("case", load_cases(__file__, "join_failures"))
def test_join_failures_are_classified_and_explained(case):
    kind = cluster.classify_join_failure(case["retcode"], case["output"])
    assert kind == case["kind"]
    message = cluster.explain_join_failure(kind, "10.0.0.11:25000", case["output"])
    assert case["advice"] in message


@pytest.mark.parametrize("case", load_cases(__file__, "tokens"))
def test_token_standing(case):
    token = "t" * 33
    result = tokens.evaluate(
        case["text"], token, now=1000, margin=case["margin"], persistent_text=case.get("persistent")
    )
    assert result == case["expected"]


def test_without_token_keeps_other_lines():
    token = "t" * 33
    text = f"{'a' * 32}|5\n{token}|900\n{token}\n{'b' * 32}"
    assert tokens.without_token(text, token) == f"{'a' * 32}|5\n{'b' * 32}\n"
    assert tokens.has_token(text, token)
    assert not tokens.has_token(tokens.without_token(text, token), token)


def test_default_margin():
    assert tokens.default_margin(None) == 0
    assert tokens.default_margin(600) == 300
    assert tokens.default_margin(315569260) == 3600


def _alt_names(text):
    return text.split("[ alt_names ]\n", 1)[1].split("[ v3_ext ]", 1)[0]


@pytest.mark.parametrize("case", load_cases(__file__, "csr"))
def test_csr_template_edit(case):
    template = DEFAULT_TEMPLATE if case["template"] == "default" else case["template"]
    kind, value = case["add"]
    if "error" in case:
        with pytest.raises(ValueError, match=re.escape(case["error"])):
            csr.add_san(template, kind, value)
        return
    updated = csr.add_san(template, kind, value)
    if case.get("unchanged"):
        assert updated == template
    else:
        assert _alt_names(updated) == case["expected_alt_names"]
        # Everything outside [ alt_names ] is untouched; a second add changes nothing.
        assert updated.count("\n") == template.count("\n") + 1
        assert csr.add_san(updated, kind, value) == updated
    assert csr.extra_sans(updated) == case["extra_sans"]


def test_csr_keeps_marker_last_in_section():
    updated = csr.add_san(DEFAULT_TEMPLATE, "IP", "10.0.0.100")
    alt = _alt_names(updated).strip().splitlines()
    assert alt[-1] == "#MOREIPS"
    assert updated.endswith(DEFAULT_TEMPLATE.split("#MOREIPS", 1)[1])


@pytest.mark.parametrize("case", load_cases(__file__, "validate"))
def test_validate(case):
    function = getattr(validate, case["fn"])
    if "error" in case:
        with pytest.raises(ValueError) as err:
            function(case["value"])
        assert case["error"] in str(err.value)
        # A token never ends up in an error message.
        if isinstance(case["value"], str) and len(case["value"]) >= 32:
            assert "0123456789abcdef0123456789abcdef" not in str(err.value)
    else:
        result = function(case["value"])
        expected = case["expected"]
        assert (list(result) if isinstance(result, tuple) else result) == expected


def test_strict_channels_take_no_classic():
    assert validate.is_strict_channel("1.32-strict/stable")
    assert not validate.is_strict_channel("1.32/stable")


def test_fingerprint_is_sha256_of_der():
    certificate = self_signed_certificate()
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    expected = hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()
    assert certs.fingerprint(pem) == expected[:12]
    # A key or chatter before the certificate does not matter.
    assert certs.fingerprint("junk\n" + pem + pem) == expected[:12]


def test_fingerprint_rejects_non_pem():
    with pytest.raises(ValueError, match="no PEM certificate"):
        certs.fingerprint("hello")
