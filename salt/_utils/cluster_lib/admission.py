"""Admission of minions on a running salt master (pure helpers, no Salt dunders).

Terraform (``terraform/modules/cloudinit``) gives every host a request: its minion id, the
SHA-256 of its public key as Salt cleans it, its roles and private address, and a
credential over those four values. The credential is keyed by a secret derived from the salt
master's private key, which only the master (and the Terraform state) holds, so the master
recomputes it and needs no list from Terraform: a node added by a later ``terraform apply``
(whose key the master never saw) is admitted with no manual step, and only with the key
Terraform made for that id.

    secret     = sha256("kubesalt-admission-v1\\n" + <master.pem text>)
    claim      = "<id>|<pub sha256>|<role,role>|<private ip>"
    credential = sha256(secret + sha256(secret + "|" + claim))

The outer hash covers a fixed-length input, so knowing one credential gives none for a
longer claim (no length extension). A credential is not a secret: it admits one public key
whose private half only that host holds.
"""

import hashlib
import hmac
import ipaddress
import json
import os
import re

import yaml

VERSION = "kubesalt-admission-v1"
MAX_REQUEST_BYTES = 8192
ROLE_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
HEX64_RE = re.compile(r"^[0-9a-f]{64}$")
ID_RE = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")
# Roles a later apply may add; the master and the bastion exist from the first apply on.
ADMITTABLE_ROLES = frozenset({"microk8s_worker", "microk8s_control_plane"})
ROLE_LISTS = {"microk8s_worker": "workers", "microk8s_control_plane": "control_planes"}


class AdmissionError(ValueError):
    """A request that is malformed (the message names the field)."""


def clean_key(text):
    """A public key as Salt compares it (``salt.crypt.clean_key``)."""
    return "\n".join(text.strip().splitlines())


def pub_sha256(pub_text):
    """SHA-256 (hex) of a public key PEM as Salt cleans it."""
    return hashlib.sha256(clean_key(pub_text).encode()).hexdigest()


def secret_from_master_key(master_pem_text):
    """The admission secret, from the text of the master's private key file."""
    return hashlib.sha256(f"{VERSION}\n{master_pem_text}".encode()).hexdigest()


def credential(secret, minion_id, key_sha256, roles, private_ip):
    """The credential Terraform computes for one host (see the module docstring)."""
    claim = "|".join([minion_id, key_sha256, ",".join(roles), private_ip])
    inner = hashlib.sha256(f"{secret}|{claim}".encode()).hexdigest()
    return hashlib.sha256(f"{secret}{inner}".encode()).hexdigest()


def parse_request(raw):
    """Validate one request line (bytes or str); return the request as a dict.

    Raises AdmissionError naming the bad field.
    """
    if isinstance(raw, bytes):
        if len(raw) > MAX_REQUEST_BYTES:
            raise AdmissionError(f"request: longer than {MAX_REQUEST_BYTES} bytes")
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise AdmissionError("request: not UTF-8") from exc
    try:
        request = json.loads(raw)
    except ValueError as exc:
        raise AdmissionError("request: not one JSON object") from exc
    if not isinstance(request, dict):
        raise AdmissionError("request: not one JSON object")
    minion_id = request.get("id")
    if not isinstance(minion_id, str) or len(minion_id) > 253 or not ID_RE.match(minion_id):
        raise AdmissionError("id: not a lower-case DNS name")
    for field in ("pub_sha256", "credential"):
        value = request.get(field)
        if not isinstance(value, str) or not HEX64_RE.match(value):
            raise AdmissionError(f"{field}: not 64 lower-case hex characters")
    roles = request.get("roles")
    if (
        not isinstance(roles, list)
        or not roles
        or not all(isinstance(r, str) and ROLE_RE.match(r) for r in roles)
    ):
        raise AdmissionError("roles: not a non-empty list of role names")
    try:
        address = ipaddress.IPv4Address(request.get("private_ip"))
    except (ipaddress.AddressValueError, TypeError) as exc:
        raise AdmissionError("private_ip: not an IPv4 address") from exc
    return {
        "id": minion_id,
        "pub_sha256": request["pub_sha256"],
        "roles": list(roles),
        "private_ip": str(address),
        "credential": request["credential"],
    }


def decide(request, secret, accepted_pub=None, pending_pub=None):
    """What to do with a parsed request, given the keys the master holds for its id.

    Returns ``(action, reason)``; action is one of

    - ``refused``: the credential is not Terraform's for this claim, or the master already
      accepted another key for this id (never replaced);
    - ``accepted``: this key is already accepted (the hosts of the first apply);
    - ``pending``: no key from this host yet (it retries);
    - ``drop-pending``: the pending key is not the one the credential names (someone else's
      under this id): remove it, the host's own key comes next;
    - ``accept``: accept the pending key.
    """
    expected = credential(
        secret, request["id"], request["pub_sha256"], request["roles"], request["private_ip"]
    )
    if not hmac.compare_digest(expected, request["credential"]):
        return "refused", "the credential is not valid for this id, key, roles and address"
    if accepted_pub is not None:
        if hmac.compare_digest(pub_sha256(accepted_pub), request["pub_sha256"]):
            return "accepted", "this key is accepted"
        return "refused", "another key is accepted for this id"
    if not set(request["roles"]) <= ADMITTABLE_ROLES:
        return "refused", "only MicroK8s nodes are admitted on a running master"
    if pending_pub is None:
        return "pending", "no pending key for this id yet"
    if not hmac.compare_digest(pub_sha256(pending_pub), request["pub_sha256"]):
        return "drop-pending", "the pending key is not the one the credential names"
    return "accept", "the pending key matches the credential"


def add_node(inventory, request):
    """The inventory document with the admitted node in it, or None if it is there already.

    ``inventory`` is the whole ``_from_terraform.sls`` document (``{"kubesalt": {...}}``).
    """
    kubesalt = inventory.get("kubesalt") if isinstance(inventory, dict) else None
    if not isinstance(kubesalt, dict) or not isinstance(kubesalt.get("nodes"), dict):
        raise AdmissionError("inventory: no kubesalt:nodes mapping")
    entry = {"roles": request["roles"], "private_ip": request["private_ip"]}
    minion_id = request["id"]
    current = kubesalt["nodes"].get(minion_id)
    lists = kubesalt.get("microk8s") or {}
    roles = [r for r in request["roles"] if r in ROLE_LISTS]
    listed = all(minion_id in (lists.get(ROLE_LISTS[r]) or []) for r in roles)
    if current is not None and current.get("roles") == entry["roles"] and listed:
        return None
    updated = json.loads(json.dumps(inventory))  # a deep copy of plain YAML data
    nodes = updated["kubesalt"]["nodes"]
    nodes[minion_id] = {**(current or {}), **entry}
    microk8s = updated["kubesalt"].setdefault("microk8s", {})
    for role in roles:
        members = microk8s.setdefault(ROLE_LISTS[role], [])
        if minion_id not in members:
            members.append(minion_id)
    return updated


def remove_node(inventory, minion_id):
    """The inventory document without ``minion_id``, or None if it is not in it."""
    kubesalt = inventory.get("kubesalt") if isinstance(inventory, dict) else None
    if not isinstance(kubesalt, dict) or not isinstance(kubesalt.get("nodes"), dict):
        raise AdmissionError("inventory: no kubesalt:nodes mapping")
    if minion_id not in kubesalt["nodes"]:
        return None
    updated = json.loads(json.dumps(inventory))
    del updated["kubesalt"]["nodes"][minion_id]
    for members in (updated["kubesalt"].get("microk8s") or {}).values():
        if isinstance(members, list) and minion_id in members:
            members.remove(minion_id)
    return updated


def write_inventory(path, document):
    """Write the inventory pillar file atomically (0640), with its header."""
    text = (
        "# Written by Terraform (terraform/modules/cloudinit) and the master's admission\n"
        "# step (salt/_engines/minion_admission.py); do not edit by hand.\n"
        + yaml.safe_dump(document, default_flow_style=False, sort_keys=True)
    )
    write_atomic(path, text, 0o640)


def write_atomic(path, text, mode):
    """Write ``text`` to ``path`` through a temporary file and a rename (``mode`` on create).

    A file that exists keeps its owner: ``salt-run`` runs as root, the master as ``salt``,
    which must still read what root rewrote.
    """
    tmp = f"{path}.kubesalt-tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
        try:
            owner = os.stat(path)
        except FileNotFoundError:
            owner = None
        if owner is not None and os.geteuid() == 0:
            os.fchown(handle.fileno(), owner.st_uid, owner.st_gid)
    os.replace(tmp, path)
