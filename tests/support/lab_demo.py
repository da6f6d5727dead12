"""`kubesalt lab demo ...` run as a user runs it, as a command, for the lab tests that check
the lab it leaves up (tests/lab/test_maas.py, tests/lab/test_lab_cloud_init_boot.py)."""

from __future__ import annotations

import contextlib
import os
import pathlib
import subprocess
import sys
import time
import types

import pytest

from kubesalt.lab import requirements_problem
from kubesalt.lab.lab import Lab
from kubesalt.lab.lab import running_lab
from kubesalt.lab.machine import state_dir_default
from tests.support import lab_policy
from tests.support.lab import LOCK_WAIT
from tests.support.lab import POOL
from tests.support.lab import one_boot_at_a_time
from tests.support.waiting import wait_until


def output_path(name: str) -> pathlib.Path:
    """Where a demo's output and, on failure, the lab's diagnostics are kept: beside the lab
    state directory of ``$KUBESALT_LAB_DIR``, as ``<dir>-<name>-demo.txt`` (not in pytest's
    temporary directory, which later runs rotate away)."""
    lab_dir = pathlib.Path(state_dir_default())
    lab_dir.parent.mkdir(parents=True, exist_ok=True)
    return lab_dir.with_name(f"{lab_dir.name}-{name}-demo.txt")


def run_demo(lab: Lab, argv: list[str], name: str, timeout: float) -> types.SimpleNamespace:
    """Run ``kubesalt <argv>`` (the virtualenv's) in ``lab``'s state directory, its output
    to ``output_path(name)``. Under ``make test``'s parallel run the lab's start-up takes its
    turn with the other workers' labs (``one_boot_at_a_time``), held until the demo says its
    lab is up. Returns ``returncode``, ``text`` (the output), ``seconds`` and ``path``."""
    kubesalt = pathlib.Path(sys.executable).parent / "kubesalt"
    output = output_path(name)
    started = time.monotonic()
    with output.open("w") as sink:
        process = subprocess.Popen(
            [str(kubesalt), *argv],
            env={**os.environ, "KUBESALT_LAB_DIR": str(lab.state_dir)},
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            with one_boot_at_a_time():
                wait_until(
                    lambda: process.poll() is not None or (lab.info() or {}).get("state") == "up",
                    timeout,
                    "the demo's lab up",
                    interval=1.0,
                )
            process.wait(timeout=max(timeout - (time.monotonic() - started), 1))
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    seconds = time.monotonic() - started
    print(f"\n{' '.join(argv)}: exit {process.returncode} after {seconds:.1f} s ({output})")
    return types.SimpleNamespace(
        returncode=process.returncode, text=output.read_text(), seconds=seconds, path=output
    )


@contextlib.contextmanager
def demo_lab(tmp_path_factory, argv: list[str], name: str, timeout: float):
    """The lab ``kubesalt <argv>`` leaves up, for a test module: ``.lab`` and ``.run`` (see
    :func:`run_demo`); the lab goes down at the end, whatever happened."""
    POOL.release()  # one lab at a time: a pooled lab must not hold the lock
    lab_policy.apply(requirements_problem(), pytest)
    # The demo does not wait for the lab lock: wait (bounded) for another test's lab to go.
    wait_until(lambda: running_lab() is None, LOCK_WAIT, "the lab lock", interval=1.0)
    lab = Lab(tmp_path_factory.mktemp("kubesalt-lab"))
    try:
        yield types.SimpleNamespace(lab=lab, run=run_demo(lab, argv, name, timeout))
    finally:
        lab.down()
