"""Cinder volumes of the lab cloud as block devices (kubesalt.cloud.volumes): an instance booted
with a volume sees it where a virtio disk would be (/dev/vdb and udev's by-id link), cloud-init
formats and mounts it on /srv with the master's disk_setup/fs_setup/mounts of
terraform/modules/cloudinit, what is written there survives a replacement of the instance, and
`terraform destroy` leaves no loop device and no file.

A small configuration of its own (one network, one volume, one instance with a config drive)
applied to a backed cloud: booting the root module's whole cluster is test_labcloud_instances'.
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess

import pytest

from kubesalt.cloud import catalogue
from kubesalt.cloud import install
from kubesalt.cloud import instances
from kubesalt.cloud import volumes
from kubesalt.cloud.store import Store
from kubesalt.cloud.workspace import Workspace
from kubesalt.lab import requirements_problem
from kubesalt.lab.lab import host_command
from kubesalt.tf import engine as tf_engine
from tests.support import lab_policy
from tests.support.lab_safety import assert_nothing_left
from tests.support.lab_safety import machine_snapshot
from tests.support.waiting import wait_until

BOOT_TIMEOUT = 300.0
SERVER = "srv-0.lab.kubesalt.test"
ROOT_MODULE = pathlib.Path(__file__).resolve().parents[2] / "terraform"


def _config() -> str:
    """The configuration: the volume's cloud-config is the cloudinit module's own (its
    ``volume_config`` local, rendered by Terraform's yamlencode as the module renders it)."""
    userdata = (ROOT_MODULE / "modules" / "cloudinit" / "userdata.tf").read_text()
    start = userdata.index("  volume_config = ")
    block = userdata[start : userdata.index("\n  }\n", start) + 5]
    return (
        (ROOT_MODULE / "versions.tf").read_text()
        + 'provider "openstack" {}\n'
        + "locals {\n"
        # as terraform/main.tf names it: virtio's serial is the volume id's first 20 chars
        + '  master_volume_device = "/dev/disk/by-id/virtio-'
        + '${substr(openstack_blockstorage_volume_v3.srv.id, 0, 20)}"\n'
        + block.replace("var.master_volume_device", "local.master_volume_device")
        + "}\n"
        + f"""
data "openstack_images_image_v2" "image" {{
  name        = "{catalogue.IMAGES[0]["name"]}"
  most_recent = true
}}
resource "openstack_networking_network_v2" "net" {{
  name = "volumes"
}}
resource "openstack_networking_subnet_v2" "subnet" {{
  network_id = openstack_networking_network_v2.net.id
  cidr       = "10.9.0.0/24"
}}
resource "openstack_networking_port_v2" "port" {{
  network_id = openstack_networking_network_v2.net.id
  fixed_ip {{
    subnet_id = openstack_networking_subnet_v2.subnet.id
  }}
}}
resource "openstack_blockstorage_volume_v3" "srv" {{
  name = "srv"
  size = 1
}}
resource "openstack_compute_instance_v2" "srv" {{
  name         = "{SERVER}"
  flavor_name  = "m1.small"
  image_id     = data.openstack_images_image_v2.image.id
  config_drive = true
  user_data    = "#cloud-config\\n${{yamlencode(local.volume_config)}}"
  network {{
    port = openstack_networking_port_v2.port.id
  }}
  block_device {{
    uuid                  = data.openstack_images_image_v2.image.id
    source_type           = "image"
    destination_type      = "local"
    boot_index            = 0
    delete_on_termination = true
  }}
  block_device {{
    uuid                  = openstack_blockstorage_volume_v3.srv.id
    source_type           = "volume"
    destination_type      = "volume"
    boot_index            = -1
    delete_on_termination = false
  }}
}}
"""
    )


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    lab_policy.apply(requirements_problem(), pytest)
    try:
        engine = tf_engine.find_engine()
    except tf_engine.TerraformError as exc:
        pytest.skip(str(exc))
    cloud_dir = tmp_path_factory.mktemp("labcloud") / "cloud"
    before = machine_snapshot(cloud_dir)
    install.install(cloud_dir, hosts=True)
    module = tmp_path_factory.mktemp("module")
    (module / "main.tf").write_text(_config())
    (module / "versions.tf").write_text("")
    workspace = Workspace(tmp_path_factory.mktemp("root"), cloud_dir, engine)
    try:
        workspace.prepare({}, module)
        workspace.init()
        yield {"dir": cloud_dir, "workspace": workspace, "before": before}
    finally:
        workspace.destroy()
        instances.stop(cloud_dir)
        install.remove(cloud_dir)


def _volume_id(cloud_dir) -> str:
    (volume_id,) = Store(cloud_dir).read()["volumes"]
    return volume_id


def _host(cloud_dir, argv: list[str]) -> subprocess.CompletedProcess:
    pid = instances.host_pid(cloud_dir, SERVER)
    return subprocess.run(
        host_command(pid, argv), capture_output=True, text=True, timeout=60, check=False
    )


def _diagnostics(cloud_dir) -> str:
    """What the guest did with its disk (cloud-init's log of the disk/mount modules)."""
    script = (
        "findmnt /srv; ls -l /dev /dev/disk/by-id; blkid -c /dev/null; "
        "grep -E 'disk_setup|mounts|mkfs|Failed|Running command' /var/log/cloud-init.log | tail -60"
    )
    return _host(cloud_dir, ["sh", "-c", script]).stdout[-6000:]


def _srv_mounted(cloud_dir) -> bool:
    try:
        result = _host(cloud_dir, ["findmnt", "-n", "-o", "SOURCE,FSTYPE", "/srv"])
    except KeyError:
        return False
    return result.returncode == 0 and "ext4" in result.stdout


def test_the_volume_is_a_disk_mounted_on_srv_that_outlives_the_instance(cloud):
    cloud_dir, workspace = cloud["dir"], cloud["workspace"]
    applied = workspace.apply()
    assert applied.returncode == 0, workspace.redacted(applied)[-3000:]
    volume_id = _volume_id(cloud_dir)
    device = f"/dev/disk/by-id/{volumes.by_id_name(volume_id)}"

    wait_until(lambda: _srv_mounted(cloud_dir), BOOT_TIMEOUT, "/srv mounted from the volume", 2)
    link = _host(cloud_dir, ["readlink", device]).stdout.strip()
    assert link == "../../vdb"
    blkid = _host(cloud_dir, ["blkid", "-c", "/dev/null", "-o", "export", device]).stdout
    assert "LABEL=kubesalt-srv" in blkid and "TYPE=ext4" in blkid, blkid
    # the guest's /dev is its own: no device of the machine's but its volume's
    listing = _host(cloud_dir, ["ls", "/dev"]).stdout.split()
    assert "vda" not in listing and "vdb" in listing, listing
    (loop,) = volumes.loops_of(cloud_dir)
    image = volumes.image_path(cloud_dir, volume_id)
    assert image.is_file()
    written = _host(cloud_dir, ["sh", "-c", "echo kept > /srv/marker && sync"])
    assert written.returncode == 0, written.stderr

    replaced = workspace.apply("-replace=openstack_compute_instance_v2.srv")
    assert replaced.returncode == 0, workspace.redacted(replaced)[-3000:]
    wait_until(lambda: _srv_mounted(cloud_dir), BOOT_TIMEOUT, "/srv mounted again", 2)
    kept = _host(cloud_dir, ["cat", "/srv/marker"]).stdout
    assert kept == "kept\n", _diagnostics(cloud_dir)
    assert len(volumes.loops_of(cloud_dir)) == 1  # the old host's loop device is gone

    destroyed = workspace.destroy()
    assert destroyed.returncode == 0, workspace.redacted(destroyed)[-3000:]
    status = json.loads((cloud_dir / instances.STATUS).read_text())
    assert [s for s in status["servers"] if s != instances.OPERATOR] == []
    assert volumes.loops_of(cloud_dir) == []
    assert not image.exists()
    assert not pathlib.Path(f"/sys/block/{pathlib.Path(loop).name}/loop/backing_file").exists()
    instances.stop(cloud_dir)
    assert_nothing_left(cloud["before"], machine_snapshot(cloud_dir))


def test_a_killed_daemon_leaves_its_loop_device_to_cloud_down(cloud):
    """``kill -9`` of the cloud's daemon: its hosts die with it, their volumes' loop devices
    stay attached (nothing of the daemon's runs to detach them) until ``kubesalt cloud down``
    (:func:`kubesalt.cloud.install.remove`, :func:`kubesalt.cloud.instances.stop`), which
    detaches every loop device on the cloud's volume files; the file stays."""
    cloud_dir, workspace = cloud["dir"], cloud["workspace"]
    applied = workspace.apply()
    assert applied.returncode == 0, workspace.redacted(applied)[-3000:]
    wait_until(lambda: _srv_mounted(cloud_dir), BOOT_TIMEOUT, "/srv mounted from the volume", 2)
    daemon = int((cloud_dir / instances.PID_FILE).read_text())
    os.kill(daemon, signal.SIGKILL)
    wait_until(lambda: not pathlib.Path(f"/proc/{daemon}").exists(), 30, "the daemon gone")
    (loop,) = volumes.loops_of(cloud_dir)  # the exception the safety snapshot catches
    instances.stop(cloud_dir)
    assert volumes.loops_of(cloud_dir) == []
    assert volumes.image_path(cloud_dir, _volume_id(cloud_dir)).is_file()
    backing = pathlib.Path(f"/sys/block/{pathlib.Path(loop).name}/loop/backing_file")
    wait_until(lambda: not backing.exists(), 30, f"{loop} detached")
