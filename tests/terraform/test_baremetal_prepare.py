"""orch.baremetal's master side (runner maas_baremetal.prepare) with the real Terraform
engine: keys generated and accepted in advance, user-data from terraform/modules/cloudinit
in 0600 files (valid for cloud-init, MAAS's hostname kept, the minion id the inventory's),
kept on a re-run, bad input refused naming the key with nothing written."""

import json
import os
import subprocess

import pytest
import salt._logging
import salt.utils.crypt
import yaml
from salt.exceptions import CommandExecutionError
from salt.exceptions import SaltInvocationError

from kubesalt.tf import keys as salt_keys
from tests.support.loading import load_ext
from tests.support.paths import SALT_DIR

DOMAIN = "lab.kubesalt.test"
MACHINES = {
    f"k8s-bm-0.{DOMAIN}": {"machine": "keen-fox", "private_ip": "10.1.0.120"},
    f"k8s-bm-1.{DOMAIN}": {"machine": "4y3h7p", "private_ip": "10.1.0.121"},
}


@pytest.fixture(autouse=True)
def _no_deferred_salt_logging():
    # Importing salt buffers log records until exit, when pytest has closed the stream.
    salt._logging.shutdown_temp_handler()


def _load_runner():
    return load_ext("runners", "maas_baremetal")


@pytest.fixture
def master(tmp_path, lab_render):
    """A master's pki directory (its key pair) and pillar root (the lab's inventory)."""
    pki = tmp_path / "pki"
    (pki / "minions").mkdir(parents=True)
    pair = salt_keys.generate_key_pair()
    (pki / "master.pub").write_text(pair["public_key_pem"])
    pillar = tmp_path / "pillar"
    pillar.mkdir()
    (pillar / "_from_terraform.sls").write_text(lab_render.inventory_yaml)
    runner = _load_runner()
    runner.__opts__ = {"pki_dir": str(pki), "pillar_roots": {"base": [str(pillar)]}}
    return runner, pki


def _store(pki):
    return pki / "kubesalt" / "baremetal"


def test_keys_accepted_in_advance_and_user_data_private(master, cloud_init, tmp_path):
    runner, pki = master
    ret = runner.prepare(MACHINES, cloudinit={"manage_resolv_conf": False})
    assert set(ret) == set(MACHINES)
    store = _store(pki)
    assert oct(store.stat().st_mode & 0o777) == "0o700"
    for minion_id, machine in MACHINES.items():
        assert ret[minion_id]["machine"] == machine["machine"]
        assert ret[minion_id]["new_key"] is True
        # Nothing secret in the return.
        assert "PRIVATE" not in json.dumps(ret[minion_id])
        private = (store / f"{minion_id}.pem").read_text()
        accepted = (pki / "minions" / minion_id).read_text()
        assert accepted == (store / f"{minion_id}.pub").read_text()
        assert ret[minion_id]["key_fingerprint"] == salt.utils.crypt.pem_finger(
            str(pki / "minions" / minion_id), sum_type="sha256"
        )
        for name in (f"{minion_id}.pem", f"{minion_id}.user-data", "machines.json"):
            assert oct((store / name).stat().st_mode & 0o777) == "0o600", name
        user_data = (store / f"{minion_id}.user-data").read_text()
        document = yaml.safe_load(user_data)
        # MAAS names the machine: no hostname from us; the minion id is the inventory's.
        assert not {"hostname", "fqdn", "prefer_fqdn_over_hostname"} & set(document)
        files = {f["path"]: f["content"] for f in document["write_files"]}
        assert files["/etc/salt/minion_id"] == f"{minion_id}\n"
        assert files["/etc/salt/pki/minion/minion.pem"] == private
        assert files["/etc/salt/pki/minion/minion_master.pub"] == (pki / "master.pub").read_text()
        assert document["runcmd"] == [["/usr/local/sbin/kubesalt-bootstrap", "microk8s_worker"]]
        # Accepted in advance: no admission request (its credential would be meaningless).
        assert "/etc/kubesalt/admission.json" not in files
        assert f"{machine['private_ip']} {minion_id} " in files["/etc/hosts"]
        assert "/etc/resolv.conf" not in files
        path = tmp_path / f"{minion_id}.yaml"
        path.write_text(user_data)
        schema = subprocess.run(
            [cloud_init, "schema", "--config-file", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert schema.returncode == 0, schema.stdout + schema.stderr
    recorded = json.loads((store / "machines.json").read_text())
    assert recorded == MACHINES


def test_rerun_keeps_the_accepted_key_and_user_data(master):
    runner, pki = master
    first = runner.prepare(MACHINES)
    second = runner.prepare(MACHINES)
    for minion_id in MACHINES:
        assert second[minion_id]["new_key"] is False
        assert second[minion_id]["key_fingerprint"] == first[minion_id]["key_fingerprint"]
        assert second[minion_id]["user_data_sha256"] == first[minion_id]["user_data_sha256"]


def test_a_key_the_master_no_longer_accepts_is_replaced(master):
    runner, pki = master
    first = runner.prepare(MACHINES)
    minion_id = sorted(MACHINES)[0]
    (pki / "minions" / minion_id).unlink()
    (pki / "minions_pre").mkdir()
    (pki / "minions_pre" / minion_id).write_text("a pending key from someone else\n")
    second = runner.prepare(MACHINES)
    assert second[minion_id]["new_key"] is True
    assert second[minion_id]["key_fingerprint"] != first[minion_id]["key_fingerprint"]
    assert not (pki / "minions_pre" / minion_id).exists()
    assert (pki / "minions" / minion_id).exists()


@pytest.mark.parametrize(
    ("machines", "cloudinit", "named"),
    [
        ({}, None, "kubesalt:baremetal:machines"),
        ({"k8s-bm-0.other.test": {"machine": "a", "private_ip": "10.1.0.120"}}, None, "domain"),
        ({f"bm.{DOMAIN}": {"machine": "a", "private_ip": "10.9.0.1"}}, None, "private_ip"),
        ({f"bm.{DOMAIN}": {"machine": "a", "private_ip": "10.1.0.10"}}, None, "private_ip"),
        ({f"bm.{DOMAIN}": {"machine": "a b", "private_ip": "10.1.0.120"}}, None, "machine"),
        ({f"bm.{DOMAIN}": {"machine": "a", "private_ip": "10.1.0.1", "x": 1}}, None, "x"),
        ({f"salt.{DOMAIN}": {"machine": "a", "private_ip": "10.1.0.120"}}, None, "salt."),
        (MACHINES, {"minion_keys": {}}, "kubesalt:baremetal:cloudinit: minion_keys"),
    ],
)
def test_bad_input_is_refused_naming_the_key(master, machines, cloudinit, named):
    runner, pki = master
    with pytest.raises(SaltInvocationError, match=named):
        runner.prepare(machines, cloudinit=cloudinit)
    assert not _store(pki).exists()
    assert os.listdir(pki / "minions") == []


def test_wait_minions_names_the_silent_ones(master):
    runner, _pki = master
    asked = []

    def execute(tgt, fun, tgt_type, timeout):
        asked.append(tgt)
        return {m: (m.startswith("k8s-bm-0") or {"failed": True}) for m in tgt.split(",")}

    runner.__salt__ = {"salt.execute": execute}
    with pytest.raises(CommandExecutionError, match=f"k8s-bm-1.{DOMAIN} did not answer"):
        runner.wait_minions(sorted(MACHINES), timeout=0.2, interval=0.05)
    assert asked[-1] == f"k8s-bm-1.{DOMAIN}"
    assert runner.wait_minions([f"k8s-bm-0.{DOMAIN}"], timeout=1) == {
        "answering": [f"k8s-bm-0.{DOMAIN}"]
    }

