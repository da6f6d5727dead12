"""Real cloud-init boots lab hosts from Terraform-rendered user-data (NoCloud seed), in a
throwaway copy-on-write root inside private namespaces: nothing on this machine changes.

Runs the init-local, init and config stages (write_files, hostname, users, timezone,
locale, passwords, the runcmd script) and, for the salt master, the deferred files of the
final stage. The final stage's scripts (the Salt bootstrap) are left to the lab.
"""

import os
import pathlib
import subprocess

import pytest
import yaml

from kubesalt.tf import nocloud
from tests.support.overlay_root import overlay_root_problem

SCRIPT = pathlib.Path(__file__).with_name("boot_in_overlay.sh")


def _mount_table():
    return pathlib.Path("/proc/mounts").read_text()


@pytest.fixture(scope="module")
def can_boot(cloud_init, tmp_path_factory):
    problem = overlay_root_problem(tmp_path_factory.mktemp("probe"))
    if problem:
        pytest.skip(problem)


def _boot(rendered, minion_id, tmp_path, *modules):
    seed = tmp_path / "seed"
    nocloud.write_seed(
        seed, rendered.user_data[minion_id], f"kubesalt-{minion_id}", minion_id.split(".")[0]
    )
    (seed / "90-kubesalt-nocloud.cfg").write_text(nocloud.DATASOURCE_CFG)
    out = tmp_path / "out"
    out.mkdir()
    hostname = os.uname().nodename
    proc = subprocess.run(
        [
            "unshare",
            "--mount",
            "--uts",
            "--net",
            "--ipc",
            "--fork",
            str(SCRIPT),
            str(seed),
            str(out),
            *modules,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    # Nothing leaked onto the machine (other work may mount meanwhile: look for ours only).
    assert "kubesalt-boot." not in _mount_table()
    assert os.uname().nodename == hostname
    logs = {p.stem: p.read_text() for p in out.glob("*.log")}
    assert proc.returncode == 0, f"{proc.stderr}\n" + "\n".join(
        f"--- {name}\n{text[-3000:]}" for name, text in logs.items()
    )
    return out


def _cloud_init_warnings(upper):
    log = (upper / "var/log/cloud-init.log").read_text()
    return [line for line in log.splitlines() if "[WARNING]" in line]


def _mode(path):
    return oct(path.stat().st_mode & 0o777)


def test_worker_boots_from_its_user_data(lab_render, can_boot, tmp_path):
    minion_id = "k8s-worker-0.lab.kubesalt.test"
    out = _boot(lab_render, minion_id, tmp_path)
    upper = out / "upper"
    assert (out / "hostname").read_text().strip() == "k8s-worker-0"
    assert _cloud_init_warnings(upper) == []
    assert (upper / "etc/salt/minion_id").read_text() == f"{minion_id}\n"
    pki = upper / "etc/salt/pki/minion"
    assert _mode(pki / "minion.pem") == "0o400"
    assert (pki / "minion.pem").read_text().startswith("-----BEGIN RSA PRIVATE KEY-----")
    config = yaml.safe_load((upper / "etc/salt/minion.d/10-kubesalt-bootstrap.conf").read_text())
    assert config["id"] == minion_id and config["master"] == "10.1.0.5"
    assert _mode(upper / "usr/local/sbin/kubesalt-bootstrap") == "0o755"
    assert "kubesalt:x:" in (upper / "etc/passwd").read_text()
    assert (upper / "etc/timezone").read_text().strip() == "Etc/UTC"
    hosts = (upper / "etc/hosts").read_text()
    assert "10.1.0.5 salt.lab.kubesalt.test salt" in hosts
    runcmd = next(upper.glob("var/lib/cloud/instances/*/scripts/runcmd")).read_text()
    assert "'/usr/local/sbin/kubesalt-bootstrap' 'microk8s_worker'" in runcmd


def test_salt_master_boots_and_writes_its_deferred_files(lab_render, can_boot, tmp_path):
    minion_id = "salt.lab.kubesalt.test"
    out = _boot(lab_render, minion_id, tmp_path, "write_files_deferred")
    upper = out / "upper"
    assert _cloud_init_warnings(upper) == []
    pki = upper / "srv/pki/master"
    assert _mode(pki / "master.pem") == "0o400"
    accepted = sorted(p.name for p in (pki / "minions").iterdir())
    assert accepted == sorted(lab_render.user_data)
    inventory = yaml.safe_load((upper / "srv/pillar/_from_terraform.sls").read_text())
    assert inventory == lab_render.inventory
    reactor = yaml.safe_load((upper / "etc/salt/master.d/50-kubesalt-reactor.conf").read_text())
    assert reactor["reactor"] == [{"salt/minion/*/start": ["salt://reactor/minion_start.sls"]}]
