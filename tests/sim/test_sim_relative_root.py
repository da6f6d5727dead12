"""Issue 9 item 5: the simulators took a relative --root and, after the cluster agent's
``chdir('/')``, wrote onto the machine's own root. A relative root is made absolute (against
the working directory of the call) by the CLIs and the Python APIs, so nothing lands outside
it."""

import os
import pathlib
import subprocess
import sys

from kubesalt.sim.maas import host as maas_host
from kubesalt.sim.microk8s import SimNode
from kubesalt.sim.microk8s.host import Host
from tests.support.paths import REPO_ROOT

ADDRESS = "127.0.9.41"
RELATIVE = "relative-root"


def kubesalt_in(cwd, simulator, command, *args):
    """``kubesalt sim SIMULATOR COMMAND --root relative-root ARGS...`` run from ``cwd``."""
    return subprocess.run(
        [sys.executable, "-m", "kubesalt", "sim", simulator, command, "--root", RELATIVE, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        timeout=60,
    )


def files_under(path):
    return {p for p in pathlib.Path(path).rglob("*")}


def test_microk8s_host_and_node_take_a_relative_root_as_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert Host(RELATIVE, ADDRESS).root == tmp_path / RELATIVE
    node = SimNode(RELATIVE, ADDRESS)
    try:
        assert node.root == tmp_path / RELATIVE
        assert node.host.root == tmp_path / RELATIVE
        # The daemons start in their own processes and chdir('/'): what they write must stay
        # under the root, and the knob subprocess (run from elsewhere) must find the host.
        node.install()
        node.set_knobs(agent_unreachable=True)
        node.set_knobs(agent_unreachable=False)
        assert node.run(["microk8s", "status", "-a", "dns"]).stdout.strip() == "enabled"
    finally:
        node.stop_daemons()
    assert not (pathlib.Path("/") / RELATIVE).exists()
    assert {p.relative_to(tmp_path).parts[0] for p in files_under(tmp_path)} == {RELATIVE}


def test_microk8s_cli_makes_a_relative_root_absolute(tmp_path):
    result = kubesalt_in(tmp_path, "microk8s", "shell-env", "--address", ADDRESS)
    assert f"export KUBESALT_SIM_ROOT={tmp_path / RELATIVE}" in result.stdout
    launcher = (tmp_path / RELATIVE / "bin" / "snap").read_text()
    assert str(tmp_path / RELATIVE) in launcher
    assert {p.relative_to(tmp_path).parts[0] for p in files_under(tmp_path)} == {RELATIVE}


def test_maas_install_takes_a_relative_root_as_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    host = maas_host.install(RELATIVE, address="127.0.9.42", hostname="region-rel")
    assert host.root == tmp_path / RELATIVE
    assert str(tmp_path / RELATIVE) in (host.bin_dir / "maas").read_text()
    assert maas_host.Host(RELATIVE).root == tmp_path / RELATIVE
    assert {p.relative_to(tmp_path).parts[0] for p in files_under(tmp_path)} == {RELATIVE}


def test_maas_cli_makes_a_relative_root_absolute(tmp_path):
    kubesalt_in(tmp_path, "maas", "install", "--address", "127.0.9.43", "--hostname", "region-rel")
    launcher = (tmp_path / RELATIVE / "usr" / "local" / "bin" / "maas").read_text()
    assert str(tmp_path / RELATIVE) in launcher
    assert {p.relative_to(tmp_path).parts[0] for p in files_under(tmp_path)} == {RELATIVE}
