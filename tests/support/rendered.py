"""Terraform-rendered user-data for the Salt tiers: render the lab's hosts (or skip when no
Terraform engine is present) and read the files a host's cloud-config writes."""

import pytest
import yaml

from kubesalt.tf import engine as tf_engine
from kubesalt.tf import render as tf_render


def render_or_skip(control_planes, workers, domain):
    """The cloudinit module rendered for the lab's hosts under ``domain``."""
    try:
        engine = tf_engine.find_engine()
    except tf_engine.TerraformError as exc:
        pytest.skip(f"no Terraform engine: {exc}")
    return tf_render.render(tf_render.lab_variables(control_planes, workers, domain=domain), engine)


def written_files(rendered, minion_id):
    """{path: content} of the host's ``write_files``."""
    return {
        f["path"]: f["content"]
        for f in yaml.safe_load(rendered.user_data[minion_id])["write_files"]
    }
