"""The bootstrap script cloud-init runs (modules/cloudinit/files/kubesalt-bootstrap.sh),
with stub commands on PATH and a fake master port on loopback."""

import os
import pathlib
import socket
import subprocess
import threading

import pytest

from tests.support.paths import CLOUDINIT_DIR

SCRIPT = CLOUDINIT_DIR / "files" / "kubesalt-bootstrap.sh"
MASTER_IP = "127.0.6.45"

STUBS = {
    # Each stub records its argv; iptables -C fails (rule absent) so the script must add it.
    "service": 'echo "service $*" >> "$STUB_LOG"',
    "sysctl": 'echo "sysctl $*" >> "$STUB_LOG"',
    "iptables": 'echo "iptables $*" >> "$STUB_LOG"; case " $* " in *" -C "*) exit 1;; esac',
    "logger": "exit 0",
    "salt-call": 'echo "salt-call ${STUB_SALT_VERSION:-3008.4} (Potassium)"',
    "salt-minion": "exit 0",
    "salt-master": "exit 0",
}


@pytest.fixture
def host(tmp_path):
    stub_dir = tmp_path / "bin"
    stub_dir.mkdir()
    for name, body in STUBS.items():
        path = stub_dir / name
        path.write_text(f"#!/bin/bash\n{body}\n")
        path.chmod(0o755)
    tree = tmp_path / "srv-kubesalt"
    (tree / "salt").mkdir(parents=True)
    env_file = tmp_path / "bootstrap.env"

    def run(
        roles, wait=3, drop=(), path_dirs=("/usr/bin", "/bin"), salt_present="3008.4", *, env=None
    ):
        for name in drop:
            (stub_dir / name).unlink()
        env_file.write_text(
            "".join(
                f"{k}='{v}'\n"
                for k, v in {
                    "MINION_ID": "node.example.internal",
                    "SALT_MASTER_IP": MASTER_IP,
                    "SALT_VERSION": "3008",
                    "SALT_REPO_URL": "https://packages.example.invalid/salt",
                    "SALT_KEY_URL": "https://packages.example.invalid/key",
                    "PRIVATE_CIDR": "10.1.0.0/16",
                    "MASTER_WAIT_SECONDS": str(wait),
                    "MASTER_PKI_DIR": str(tmp_path / "pki"),
                    "PILLAR_DIR": str(tmp_path / "pillar"),
                    "STATE_TREE_PATH": str(tree),
                    "STATE_TREE_REPOSITORY": "",
                    "STATE_TREE_REF": "main",
                    "MASTER_CACHE_DIR": str(tmp_path / "cache"),
                    "ADMISSION_FILE": str(tmp_path / "no-admission.json"),
                    **(env or {}),
                }.items()
            )
        )
        (tmp_path / "pki").mkdir(exist_ok=True)
        (tmp_path / "pillar").mkdir(exist_ok=True)
        log = tmp_path / "stub.log"
        log.write_text("")
        proc = subprocess.run(
            ["/bin/bash", str(SCRIPT), *roles],
            env={
                "PATH": os.pathsep.join([str(stub_dir), *path_dirs]),
                "KUBESALT_BOOTSTRAP_ENV": str(env_file),
                "STUB_LOG": str(log),
                "STUB_SALT_VERSION": salt_present,
            },
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return proc, log.read_text().splitlines()

    return run


@pytest.fixture
def master_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((MASTER_IP, 4506))
        listener.listen(8)
        yield listener


def test_worker_with_salt_present_waits_for_the_master_then_starts_the_minion(host, master_port):
    proc, calls = host(["microk8s_worker"])
    assert proc.returncode == 0, proc.stderr
    assert "Salt already present (salt-call 3008.4 (Potassium)); not installing" in proc.stdout
    assert "WARNING" not in proc.stdout
    assert f"the salt master answers on {MASTER_IP}:4506" in proc.stdout
    assert calls == ["service salt-minion restart"]


@pytest.mark.parametrize(
    ("present", "warned"),
    [("3007.15", True), ("3008.2", True), ("3008.3", False), ("3009.1", False), ("3008", True)],
)
def test_salt_on_the_image_without_the_reconnect_fix_is_warned_about(
    host, master_port, present, warned
):
    proc, calls = host(["microk8s_worker"], salt_present=present)
    assert proc.returncode == 0, proc.stderr
    warning = f"WARNING: Salt on the image (salt-call {present} (Potassium)) predates 3008.3"
    assert (warning in proc.stdout) is warned, proc.stdout
    assert calls == ["service salt-minion restart"]


def test_bastion_turns_on_forwarding_and_nat_once(host, master_port):
    proc, calls = host(["bastion"])
    assert proc.returncode == 0, proc.stderr
    assert calls == [
        "sysctl -q -w net.ipv4.ip_forward=1",
        "iptables -t nat -C POSTROUTING -s 10.1.0.0/16 ! -d 10.1.0.0/16 -j MASQUERADE",
        "iptables -t nat -A POSTROUTING -s 10.1.0.0/16 ! -d 10.1.0.0/16 -j MASQUERADE",
        "service salt-minion restart",
    ]


def test_master_starts_the_master_before_its_minion(host, master_port, tmp_path):
    proc, calls = host(["salt_master"])
    assert proc.returncode == 0, proc.stderr
    assert calls == ["service salt-master restart", "service salt-minion restart"]
    assert oct((tmp_path / "pki").stat().st_mode & 0o777) == "0o700"


def test_master_not_answering_is_a_warning_not_a_failure(host):
    proc, calls = host(["microk8s_worker"], wait=0)
    assert proc.returncode == 0, proc.stderr
    assert "did not answer in 0s; starting the minion anyway" in proc.stdout
    assert calls == ["service salt-minion restart"]


def test_master_without_state_tree_or_repository_fails_clearly(host, master_port, tmp_path):
    (tmp_path / "srv-kubesalt" / "salt").rmdir()
    proc, _ = host(["salt_master"])
    assert proc.returncode == 1
    assert "srv-kubesalt/salt is missing and no state_tree.repository is set" in proc.stdout


def test_missing_salt_without_apt_fails_clearly(host, tmp_path):
    bash_only = tmp_path / "coreutils"
    bash_only.mkdir()
    for tool in ("sleep", "id", "chown", "chmod"):
        (bash_only / tool).symlink_to(pathlib.Path("/bin") / tool)
    proc, calls = host(["microk8s_worker"], drop=("salt-minion",), path_dirs=(str(bash_only),))
    assert proc.returncode == 1
    assert "not a Debian/Ubuntu image: install Salt 3008 on the image" in proc.stdout
    assert calls == []


@pytest.fixture
def admission_step():
    """A stand-in for the master's admission engine: records requests, answers as told."""
    answers, requests = [], []
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((MASTER_IP, 4507))
        listener.listen(8)
        listener.settimeout(1)

        def serve():
            while answers:
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    continue
                with conn:
                    requests.append(conn.makefile("rb").readline().decode())
                    conn.sendall((answers.pop(0) + "\n").encode())

        yield answers, requests, serve


def test_a_node_requests_admission_until_the_master_accepts(
    host, master_port, admission_step, tmp_path
):
    answers, requests, serve = admission_step
    request = '{"id": "node.example.internal", "credential": "c"}'
    (tmp_path / "admission.json").write_text(request + "\n")
    answers.extend(['{"result": "pending"}', '{"result": "accepted", "reason": "ok"}'])
    thread = threading.Thread(target=serve)
    thread.start()
    proc, calls = host(
        ["microk8s_worker"], wait=30, env={"ADMISSION_FILE": str(tmp_path / "admission.json")}
    )
    thread.join(timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert requests == [request + "\n"] * 2
    assert "the salt master admitted node.example.internal" in proc.stdout
    assert calls == ["service salt-minion restart"]


def test_a_refused_admission_fails_the_bootstrap(host, master_port, admission_step, tmp_path):
    answers, _requests, serve = admission_step
    (tmp_path / "admission.json").write_text("{}\n")
    answers.append('{"result": "refused", "reason": "the credential is not valid"}')
    thread = threading.Thread(target=serve)
    thread.start()
    proc, _calls = host(
        ["microk8s_worker"], wait=30, env={"ADMISSION_FILE": str(tmp_path / "admission.json")}
    )
    thread.join(timeout=30)
    assert proc.returncode == 1
    assert "refused to admit node.example.internal" in proc.stdout
    assert "the credential is not valid" in proc.stdout


def _host_keys(directory: pathlib.Path, content: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for kind in ("ed25519", "rsa"):
        (directory / f"ssh_host_{kind}_key").write_text(f"{kind} private {content}\n")
        (directory / f"ssh_host_{kind}_key.pub").write_text(f"{kind} public {content}\n")


def _keys(directory: pathlib.Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(directory.glob("ssh_host_*"))}


def test_master_keeps_its_ssh_host_keys_on_the_volume_through_a_rebuild(
    host, master_port, tmp_path
):
    """First boot: the host keys sshd was given are copied to the volume (0700, modes kept);
    a rebuilt master (fresh keys in /etc/ssh, the volume's copy present) gets the volume's
    keys back and sshd restarted, so the operator's known_hosts still matches."""
    etc, saved = tmp_path / "etc-ssh", tmp_path / "volume" / "ssh-host-keys"
    env = {"SSH_DIR": str(etc), "MASTER_HOST_KEYS_DIR": str(saved)}
    _host_keys(etc, "first")
    (etc / "ssh_host_ed25519_key").chmod(0o600)
    proc, calls = host(["salt_master"], env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _keys(saved) == _keys(etc) and len(_keys(saved)) == 4
    assert oct(saved.stat().st_mode & 0o777) == "0o700"
    assert oct((saved / "ssh_host_ed25519_key").stat().st_mode & 0o777) == "0o600"
    assert calls == ["service salt-master restart", "service salt-minion restart"]

    _host_keys(etc, "rebuilt")  # the new instance's own keys
    proc, calls = host(["salt_master"], env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _keys(etc) == _keys(saved) and "first" in (etc / "ssh_host_ed25519_key").read_text()
    assert f"restored the SSH host keys from {saved}" in proc.stdout
    assert calls == [
        "service ssh restart",
        "service salt-master restart",
        "service salt-minion restart",
    ]
    proc, calls = host(["salt_master"], env=env)  # cloud-init re-run: already the same keys
    assert calls == ["service salt-master restart", "service salt-minion restart"]
