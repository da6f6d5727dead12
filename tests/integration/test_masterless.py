"""After a real ``pip install .``, ``salt-call --local microk8s.status`` works with no master.

The project is built as a wheel and installed into a throwaway virtualenv, so what is tested
is the distribution (data files + ``salt.loader`` entry point), not the work tree. The
throwaway environment borrows the dependencies of ``.venv`` through a ``.pth`` file instead of
downloading Salt again; ``.pth`` files inside that directory are not processed, so the work
tree's editable install stays invisible.
"""

import json
import os
import pathlib
import subprocess
import sys
import sysconfig
import textwrap

import pytest

from tests.support.microk8s_sim import microk8s_sim  # noqa: F401  (fixture)
from tests.support.paths import REPO_ROOT

pytestmark = pytest.mark.timeout(300)

# salt-call of the throwaway environment (its bin/salt-call would need pip's launcher).
SALT_CALL = "import sys; from salt.scripts import salt_call; sys.argv[0] = 'salt-call'; salt_call()"


@pytest.fixture(scope="module")
def installed_venv(tmp_path_factory):
    work = tmp_path_factory.mktemp("masterless")
    wheels = work / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "-w",
            str(wheels),
            str(REPO_ROOT),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    (wheel,) = wheels.glob("kubesalt-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    deps = sysconfig.get_paths()["purelib"]
    (pathlib.Path(purelib) / "zz-kubesalt-test-deps.pth").write_text(deps + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "-q",
            "--no-deps",
            str(wheel),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return venv


def test_wheel_registers_modules_with_salt(installed_venv):
    python = installed_venv / "bin" / "python"
    out = subprocess.run(
        [
            str(python),
            "-c",
            "import json, kubesalt.saltext as s; print(json.dumps(s.loader_dirs()))",
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd="/",
    ).stdout
    dirs = json.loads(out)
    # The installed copy, not the work tree.
    assert dirs["modules"][0].startswith(str(installed_venv)), dirs
    assert os.path.isfile(os.path.join(dirs["modules"][0], "microk8s.py"))
    assert os.path.isfile(os.path.join(dirs["states"][0], "microk8s.py"))


def test_salt_call_local_status(installed_venv, microk8s_sim, tmp_path):  # noqa: F811
    node = microk8s_sim("127.0.3.200")
    node.install(channel="1.32/stable")
    config_dir = tmp_path / "etc"
    config_dir.mkdir()
    (config_dir / "minion").write_text(
        textwrap.dedent(
            f"""\
            id: masterless-minion
            file_client: local
            root_dir: {tmp_path / "root"}
            microk8s.snap_data: {node.root / "var/snap/microk8s/current"}
            """
        )
    )
    env = node.env()
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        [
            str(installed_venv / "bin" / "python"),
            "-c",
            SALT_CALL,
            "--local",
            "-c",
            str(config_dir),
            "--out=json",
            "microk8s.status",
        ],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        cwd="/",
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)["local"]
    assert status["running"] is True
    assert status["role"] == "control-plane"
    assert status["addons"]["dns"]["status"] == "enabled"
