"""The running master admits a node it never saw (issue 11 defect 3): a real salt-master with
the admission engine (salt/_engines/minion_admission.py) and Terraform-rendered keys and
credentials. A minion whose key was not accepted in advance is accepted only with the
credential Terraform made for its id, key, roles and address; refusals: a wrong credential,
a credential replayed for another id, a pending key that is not the credential's."""

import json
import pathlib
import socket
import threading
import time

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.paths import SALT_DIR
from tests.support.rendered import render_or_skip
from tests.support.rendered import written_files

pytestmark = pytest.mark.timeout(300)

DOMAIN = "admit.kubesalt.test"
MASTER = f"salt.{DOMAIN}"
KNOWN = f"k8s-worker-0.{DOMAIN}"  # in the master's user-data: accepted in advance
NEW = f"k8s-worker-1.{DOMAIN}"  # added by a later apply: the master never saw it
OTHER = f"k8s-worker-2.{DOMAIN}"


@pytest.fixture(scope="module")
def rendered():
    return render_or_skip(1, 3, DOMAIN)


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def master(salt_factories, rendered, tmp_path_factory):
    """The master as its creation-time user-data left it: its key, the keys of the first
    apply's hosts accepted, the first apply's inventory (without the later workers)."""
    files = written_files(rendered, MASTER)
    inventory = yaml.safe_load(files["/srv/pillar/_from_terraform.sls"])
    for later in (NEW, OTHER):
        del inventory["kubesalt"]["nodes"][later]
        inventory["kubesalt"]["microk8s"]["workers"].remove(later)
    inventory_path = tmp_path_factory.mktemp("pillar") / "_from_terraform.sls"
    inventory_path.write_text(yaml.safe_dump(inventory))
    port = _free_port()
    factory = salt_factories.salt_master_daemon(
        "admit-master",
        overrides={
            "hash_type": "sha256",
            "engines_dirs": [str(SALT_DIR / "_engines")],
            "runner_dirs": [str(SALT_DIR / "_runners")],
            "utils_dirs": [str(SALT_DIR / "_utils")],
            "engines": [{"minion_admission": {"port": port, "interface": "127.0.0.1"}}],
            "cluster_bootstrap": {"inventory": str(inventory_path)},
        },
        # No acceptance of pending keys by the factory: only the engine may accept.
        on_auth_event_callback=lambda _master, _payload: None,
    )
    pki = pathlib.Path(factory.config["pki_dir"])
    (pki / "minions").mkdir(parents=True, exist_ok=True)
    (pki / "minions_pre").mkdir(parents=True, exist_ok=True)
    for name, mode in (("master.pem", 0o400), ("master.pub", 0o644)):
        (pki / name).write_text(files[f"/srv/pki/master/{name}"])
        (pki / name).chmod(mode)
    (pki / "minions" / KNOWN).write_text(files[f"/srv/pki/master/minions/{KNOWN}"])
    factory.admission_port = port
    factory.inventory_path = inventory_path
    with factory.started():
        _wait_for_port(port)
        yield factory


def _wait_for_port(port, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"the admission engine never listened on {port}")


def _ask(master, request):
    line = request if isinstance(request, str) else json.dumps(request)
    with socket.create_connection(("127.0.0.1", master.admission_port), timeout=30) as conn:
        conn.sendall(line.encode() + b"\n")
        return json.loads(conn.makefile("rb").readline())


def _request(rendered, minion_id):
    return json.loads(written_files(rendered, minion_id)["/etc/kubesalt/admission.json"])


def _pki(master):
    return pathlib.Path(master.config["pki_dir"])


def _pend(master, minion_id, pub_text):
    (_pki(master) / "minions_pre" / minion_id).write_text(pub_text)


def _other_key(_tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def test_a_known_host_is_already_accepted(master, rendered):
    assert _ask(master, _request(rendered, KNOWN))["result"] == "accepted"


def test_a_wrong_credential_is_refused(master, rendered):
    request = _request(rendered, OTHER)
    _pend(master, OTHER, written_files(rendered, OTHER)["/etc/salt/pki/minion/minion.pub"])
    request["credential"] = ("0" if request["credential"][0] != "0" else "1") + request[
        "credential"
    ][1:]
    assert _ask(master, request)["result"] == "refused"
    assert not (_pki(master) / "minions" / OTHER).exists()
    assert (_pki(master) / "minions_pre" / OTHER).exists()


def test_a_credential_replayed_for_another_id_is_refused(master, rendered):
    # NEW's genuine request, sent for OTHER (whose key is pending): its credential names NEW.
    _pend(master, OTHER, written_files(rendered, OTHER)["/etc/salt/pki/minion/minion.pub"])
    replayed = {**_request(rendered, NEW), "id": OTHER}
    assert _ask(master, replayed)["result"] == "refused"
    replayed = {
        **_request(rendered, NEW),
        "id": OTHER,
        **{k: _request(rendered, OTHER)[k] for k in ("pub_sha256",)},
    }
    assert _ask(master, replayed)["result"] == "refused"
    assert not (_pki(master) / "minions" / OTHER).exists()


def test_a_pending_key_that_is_not_the_credentials_is_never_accepted(master, rendered, tmp_path):
    # Someone else's key pending under OTHER's id; OTHER's genuine request arrives.
    _pend(master, OTHER, _other_key(tmp_path))
    answer = _ask(master, _request(rendered, OTHER))
    assert answer["result"] == "pending", answer
    assert not (_pki(master) / "minions" / OTHER).exists()
    assert not (_pki(master) / "minions_pre" / OTHER).exists()  # dropped: the real key next


def test_another_key_already_accepted_for_the_id_is_kept(master, rendered, tmp_path):
    request = {**_request(rendered, KNOWN)}
    accepted = (_pki(master) / "minions" / KNOWN).read_text()
    (_pki(master) / "minions" / KNOWN).write_text(_other_key(tmp_path))
    try:
        assert _ask(master, request)["result"] == "refused"
    finally:
        (_pki(master) / "minions" / KNOWN).write_text(accepted)


def test_malformed_requests_are_refused_naming_the_field(master, rendered):
    assert _ask(master, "not json")["result"] == "refused"
    answer = _ask(master, {**_request(rendered, NEW), "id": "../../etc/passwd"})
    assert answer == {"result": "refused", "reason": "id: not a lower-case DNS name"}


def test_a_new_node_is_admitted_and_added_to_the_inventory(master, rendered):
    files = written_files(rendered, NEW)
    minion_conf = yaml.safe_load(files["/etc/salt/minion.d/10-kubesalt-bootstrap.conf"])
    minion = master.salt_minion_daemon(
        "kw1",
        overrides={
            "id": NEW,
            "hash_type": "sha256",
            "master_finger": minion_conf["master_finger"],
            "acceptance_wait_time": 2,
            "acceptance_wait_time_max": 2,
        },
    )
    pki = pathlib.Path(minion.config["pki_dir"])
    pki.mkdir(parents=True, exist_ok=True)
    for name, mode in (("minion.pem", 0o400), ("minion.pub", 0o644), ("minion_master.pub", 0o644)):
        (pki / name).write_text(files[f"/etc/salt/pki/minion/{name}"])
        (pki / name).chmod(mode)
    request = _request(rendered, NEW)
    # The factory's start returns once the minion's start event arrives, i.e. only after the
    # admission: start it in a thread, admit it from here.
    started = threading.Thread(
        target=minion.start, kwargs={"start_timeout": 150, "max_start_attempts": 1}
    )
    started.start()
    try:
        deadline = time.monotonic() + 120
        answer = {"result": "pending"}
        while answer["result"] == "pending" and time.monotonic() < deadline:
            answer = _ask(master, request)
            if answer["result"] == "pending":
                time.sleep(1)
        assert answer["result"] == "accepted", answer
        started.join(timeout=150)
        assert minion.is_running()
        ret = master.salt_cli(timeout=60).run("test.ping", minion_tgt=NEW)
        assert ret.returncode == 0 and ret.data is True, ret
    finally:
        started.join(timeout=150)
        minion.terminate()
    inventory = yaml.safe_load(master.inventory_path.read_text())["kubesalt"]
    assert inventory["nodes"][NEW] == {"roles": ["microk8s_worker"], "private_ip": "10.1.0.101"}
    assert inventory["microk8s"]["workers"] == [KNOWN, NEW]
    # the very key the minion presented (Salt sends it cleaned: no trailing newline)
    accepted = (_pki(master) / "minions" / NEW).read_text()
    assert accepted == files["/etc/salt/pki/minion/minion.pub"].strip()


def test_the_removal_runner_takes_the_node_out(master, rendered):
    """After the admission above: minion_admission.remove drops NEW from the inventory and
    deletes its key (converge=False: no orchestration in this tier); the master and the
    bastion are refused."""
    run = master.salt_run_cli(timeout=120)
    ret = run.run("minion_admission.remove", NEW, "converge=False")
    assert ret.returncode == 0, ret
    assert ret.data == {"minion_id": NEW, "inventory": True, "keys": ["minions"]}
    inventory = yaml.safe_load(master.inventory_path.read_text())["kubesalt"]
    assert NEW not in inventory["nodes"]
    assert inventory["microk8s"]["workers"] == [KNOWN]
    assert not (_pki(master) / "minions" / NEW).exists()
    refused = run.run("minion_admission.remove", MASTER, "converge=False")
    # salt-run prints a SaltInvocationError (exit code 0): nothing removed
    assert f"{MASTER} is the salt_master; it is not removed" in refused.stdout + refused.stderr
    assert MASTER in yaml.safe_load(master.inventory_path.read_text())["kubesalt"]["nodes"]
