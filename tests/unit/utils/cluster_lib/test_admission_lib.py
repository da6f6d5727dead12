"""cluster_lib.admission: credentials, requests, decisions and inventory edits (pure)."""

import json

import pytest

from cluster_lib import admission

SECRET = admission.secret_from_master_key("-----BEGIN RSA PRIVATE KEY-----\nx\n")
PUB = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
OTHER_PUB = "-----BEGIN PUBLIC KEY-----\nBBBB\n-----END PUBLIC KEY-----\n"
ID = "k8s-worker-2.example.internal"


def _request(**changes):
    request = {
        "id": ID,
        "pub_sha256": admission.pub_sha256(PUB),
        "roles": ["microk8s_worker"],
        "private_ip": "10.1.0.102",
    }
    request["credential"] = admission.credential(
        SECRET, request["id"], request["pub_sha256"], request["roles"], request["private_ip"]
    )
    request.update(changes)
    return admission.parse_request(json.dumps(request))


def test_the_key_hash_ignores_line_endings_and_outer_whitespace_as_salt_does():
    assert admission.pub_sha256(PUB) == admission.pub_sha256(PUB.replace("\n", "\r\n") + "  \n")
    assert admission.pub_sha256(PUB) != admission.pub_sha256(OTHER_PUB)


@pytest.mark.parametrize(
    ("accepted", "pending", "expected"),
    [
        (None, None, "pending"),
        (None, PUB, "accept"),
        (None, OTHER_PUB, "drop-pending"),
        (PUB, None, "accepted"),
        (OTHER_PUB, PUB, "refused"),
    ],
)
def test_decisions(accepted, pending, expected):
    assert admission.decide(_request(), SECRET, accepted, pending)[0] == expected


@pytest.mark.parametrize(
    "changes",
    [
        {"id": "k8s-worker-3.example.internal"},
        {"pub_sha256": admission.pub_sha256(OTHER_PUB)},
        {"roles": ["microk8s_control_plane"]},
        {"private_ip": "10.1.0.103"},
        {"credential": "0" * 64},
    ],
)
def test_a_credential_holds_for_its_own_claim_only(changes):
    assert admission.decide(_request(**changes), SECRET, None, PUB)[0] == "refused"


def test_another_secret_gives_other_credentials():
    other = admission.secret_from_master_key("-----BEGIN RSA PRIVATE KEY-----\ny\n")
    assert admission.decide(_request(), other, None, PUB)[0] == "refused"


def test_master_and_bastion_roles_are_not_admitted_on_a_running_master():
    roles = ["salt_master"]
    request = _request(
        roles=roles,
        credential=admission.credential(SECRET, ID, admission.pub_sha256(PUB), roles, "10.1.0.102"),
    )
    assert admission.decide(request, SECRET, None, PUB)[0] == "refused"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ("[]", "request"),
        ("{", "request"),
        (b"\xff", "request"),
        (b"{" + b" " * 9000 + b"}", "request"),
        (json.dumps({"id": "../etc"}), "id"),
        (json.dumps({"id": "a.b", "pub_sha256": "x"}), "pub_sha256"),
    ],
)
def test_malformed_requests_name_the_field(raw, field):
    with pytest.raises(admission.AdmissionError, match=f"^{field}:"):
        admission.parse_request(raw)


def test_inventory_add_and_remove():
    inventory = {
        "kubesalt": {
            "nodes": {"k8s-master.example.internal": {"roles": ["microk8s_control_plane"]}},
            "microk8s": {"control_planes": ["k8s-master.example.internal"], "workers": []},
        }
    }
    added = admission.add_node(inventory, _request())
    assert added["kubesalt"]["nodes"][ID] == {
        "roles": ["microk8s_worker"],
        "private_ip": "10.1.0.102",
    }
    assert added["kubesalt"]["microk8s"]["workers"] == [ID]
    assert inventory["kubesalt"]["microk8s"]["workers"] == []  # not changed in place
    assert admission.add_node(added, _request()) is None
    removed = admission.remove_node(added, ID)
    assert removed == inventory
    assert admission.remove_node(removed, ID) is None
    with pytest.raises(admission.AdmissionError, match=r"^inventory:"):
        admission.add_node({}, _request())
