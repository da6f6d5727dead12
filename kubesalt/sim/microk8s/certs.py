"""Certificates of a simulated node: a real CA and a server certificate rendered from the
node's ``csr.conf.template``, and the join CHECK (first 12 hex chars of SHA-256 of its DER).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import re
from pathlib import Path

from kubesalt.sim.microk8s.host import Host
from kubesalt.sim.microk8s.host import write_file

CA_DAYS = 3650
LEAF_DAYS = 365


def render_csr_conf(template: str, ips: list) -> str:
    """``render_csr_conf`` of utils.sh: replace ``#MOREIPS`` with ``IP.<n> = <ip>`` lines,
    n from 3, skipping indices whose ``IP.<n>`` prefix already starts a template line."""
    ips = [ip for ip in ips if ip not in ("127.0.0.1", "none")]
    if not ips:
        return template.replace("#MOREIPS", "")
    lines = []
    index = 3
    for ip in ips:
        while re.search(rf"^IP\.{index}", template, re.MULTILINE):
            index += 1
        lines.append(f"IP.{index} = {ip}")
        index += 1
    return template.replace("#MOREIPS", "\n".join(lines))


def parse_csr_conf(text: str) -> tuple[str, list, list]:
    """Return (CN, DNS names, IP addresses) of a rendered CSR config."""
    section = None
    common_name = "127.0.0.1"
    dns_names, ips = [], []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            continue
        if "=" not in line:
            continue
        key, value = (part.strip() for part in line.split("=", 1))
        if section == "dn" and key == "CN":
            common_name = value
        elif section == "alt_names" and key.startswith("DNS.") and value not in dns_names:
            dns_names.append(value)
        elif section == "alt_names" and key.startswith("IP.") and value not in ips:
            ips.append(value)
    return common_name, dns_names, ips


def _x509():
    # Imported lazily: most CLI calls never touch certificates, and cryptography is slow
    # to import for a command that should answer in milliseconds.
    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes  # noqa: PLC0415
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    return x509, hashes, serialization, rsa, NameOID


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _new_key(path: Path):
    _, _, serialization, rsa, _ = _x509()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    write_file(path, pem, 0o600)
    return key


def _load_key(path: Path):
    _, _, serialization, _, _ = _x509()
    # Our own keys: skip the RSA consistency check, which costs ~0.15 s per load.
    return serialization.load_pem_private_key(
        path.read_bytes(), password=None, unsafe_skip_rsa_key_validation=True
    )


def _load_or_new_key(path: Path):
    return _load_key(path) if path.exists() else _new_key(path)


def generate_ca(host: Host) -> None:
    """A fresh self-signed cluster CA (``ca.crt``/``ca.key``), CN 10.152.183.1 as MicroK8s."""
    x509, hashes, serialization, _, NameOID = _x509()
    key = _new_key(host.certs / "ca.key")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "10.152.183.1")])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    write_file(host.certs / "ca.crt", cert.public_bytes(serialization.Encoding.PEM).decode())


def _sign_leaf(
    host: Host,
    name: str,
    common_name: str,
    dns_names: list,
    ips: list,
    *,
    out_dir=None,
    organization: str | None = None,
) -> None:
    x509, hashes, serialization, _, NameOID = _x509()
    ca_key = _load_key(host.certs / "ca.key")
    ca_cert = x509.load_pem_x509_certificate((host.certs / "ca.crt").read_bytes())
    out_dir = out_dir or host.certs
    key = _load_or_new_key(out_dir / name.replace(".crt", ".key"))
    subject = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        subject.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    now = _now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(subject))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=LEAF_DAYS))
    )
    sans = [x509.DNSName(value) for value in dns_names]
    for value in ips:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(value)))
        except ValueError:
            continue
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    write_file(out_dir / name, cert.public_bytes(serialization.Encoding.PEM).decode())


def generate_server_cert(host: Host) -> None:
    """Render ``csr.conf`` from the template (node IPs) and sign ``server.crt`` with the CA."""
    template = (host.certs / "csr.conf.template").read_text()
    rendered = render_csr_conf(template, node_ips(host))
    write_file(host.certs / "csr.conf.rendered", rendered)
    write_file(host.certs / "csr.conf", rendered)
    common_name, dns_names, ips = parse_csr_conf(rendered)
    _sign_leaf(host, "server.crt", common_name, dns_names, ips)


def generate_front_proxy_cert(host: Host) -> None:
    _sign_leaf(host, "front-proxy-client.crt", "front-proxy-client", [], [])


def generate_dqlite_cert(host: Host) -> None:
    """The dqlite cluster certificate (CN k8s) under var/kubernetes/backend."""
    backend = host.data / "var/kubernetes/backend"
    _sign_leaf(host, "cluster.crt", "k8s", [host.hostname], [host.address], out_dir=backend)


def generate_service_account_key(host: Host) -> None:
    _new_key(host.certs / "serviceaccount.key")


def node_ips(host: Host) -> list:
    """``get_ips``: the node's addresses (the simulator knows exactly one)."""
    return [host.address]


def fingerprint(host: Host) -> str:
    """The 12-hex-char join CHECK of this node's server certificate."""
    return server_cert_sha256(host)[:12]


def server_cert_sha256(host: Host) -> str:
    x509, _, serialization, _, _ = _x509()
    cert = x509.load_pem_x509_certificate((host.certs / "server.crt").read_bytes())
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def days_left(path: Path) -> int:
    x509 = _x509()[0]
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    return (cert.not_valid_after_utc - _now()).days


def read_pem(path: Path) -> str:
    return path.read_text()


def kubeconfig(host: Host) -> str:
    """The admin kubeconfig as ``create_kubeconfig_x509 client.config admin`` writes it (1.28+):
    the CA, the admin's client certificate and key embedded (``*-data``)."""

    def data(name):
        return base64.b64encode((host.certs / name).read_bytes()).decode()

    return (
        "apiVersion: v1\n"
        "clusters:\n"
        "- cluster:\n"
        f"    certificate-authority-data: {data('ca.crt')}\n"
        "    server: https://127.0.0.1:16443\n"
        "  name: microk8s-cluster\n"
        "contexts:\n"
        "- context:\n"
        "    cluster: microk8s-cluster\n"
        "    user: admin\n"
        "  name: microk8s\n"
        "current-context: microk8s\n"
        "kind: Config\n"
        "preferences: {}\n"
        "users:\n"
        "- name: admin\n"
        "  user:\n"
        f"    client-certificate-data: {data('client.crt')}\n"
        f"    client-key-data: {data('client.key')}\n"
    )


def write_client_config(host: Host) -> None:
    """``create_user_certs_and_configs``' admin part, run at install and after every CA
    change (join, leave, refresh-certs): ``client.crt`` (CN admin, O system:masters) signed by
    the current CA, and ``credentials/client.config`` embedding it."""
    _sign_leaf(host, "client.crt", "admin", [], [], organization="system:masters")
    write_file(host.credentials / "client.config", kubeconfig(host), 0o600)
