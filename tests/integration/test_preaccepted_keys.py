"""Terraform-rendered Salt keys work for real: the minion is accepted in advance (no
salt-key call, no pending key) and holds the master pinned by `master_finger`."""

import pathlib

import pytest
import yaml

from tests.support.rendered import render_or_skip
from tests.support.rendered import written_files

pytestmark = pytest.mark.timeout(300)

DOMAIN = "keys.kubesalt.test"
WORKER = f"k8s-worker-0.{DOMAIN}"
MASTER = f"salt.{DOMAIN}"


@pytest.fixture(scope="module")
def rendered():
    return render_or_skip(1, 1, DOMAIN)


def _place(directory, files):
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name, (content, mode) in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        path.chmod(mode)


def test_rendered_keys_authenticate_without_acceptance(salt_factories, rendered):
    auth_events = []
    master_files = written_files(rendered, MASTER)
    master = salt_factories.salt_master_daemon(
        "keys-master",
        overrides={"hash_type": "sha256"},
        # Record key events instead of accepting pending keys as salt-factories does.
        on_auth_event_callback=lambda _master, payload: auth_events.append(payload),
    )
    _place(
        master.config["pki_dir"],
        {
            "master.pem": (master_files["/srv/pki/master/master.pem"], 0o400),
            "master.pub": (master_files["/srv/pki/master/master.pub"], 0o644),
            f"minions/{WORKER}": (master_files[f"/srv/pki/master/minions/{WORKER}"], 0o644),
        },
    )
    worker_files = written_files(rendered, WORKER)
    minion_conf = yaml.safe_load(worker_files["/etc/salt/minion.d/10-kubesalt-bootstrap.conf"])
    # A short daemon name (the factory's directory; AF_UNIX paths hold at most 108 bytes),
    # the rendered FQDN as the minion id.
    minion = master.salt_minion_daemon(
        "kw0",
        overrides={
            "id": WORKER,
            "hash_type": "sha256",
            "master_finger": minion_conf["master_finger"],
        },
    )
    pki = pathlib.Path(minion.config["pki_dir"])
    _place(
        pki,
        {
            name: (worker_files[f"/etc/salt/pki/minion/{name}"], mode)
            for name, mode in (
                ("minion.pem", 0o400),
                ("minion.pub", 0o644),
                ("minion_master.pub", 0o644),
            )
        },
    )
    with master.started(), minion.started():
        ret = master.salt_cli(timeout=60).run("test.ping", minion_tgt=WORKER)
        assert ret.returncode == 0, ret
        assert ret.data is True
    assert [e.get("act") for e in auth_events if e.get("act") == "pend"] == []
    pending = pathlib.Path(master.config["pki_dir"]) / "minions_pre"
    assert not pending.exists() or not any(pending.iterdir())
    # The minion kept the keys it was given (it did not generate new ones).
    assert (pki / "minion.pub").read_text() == worker_files["/etc/salt/pki/minion/minion.pub"]
