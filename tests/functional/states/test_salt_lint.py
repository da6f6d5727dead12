"""The state tree and the pillar pass salt-lint (the repository's .salt-lint rules)."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import PILLAR_DIR
from tests.support.paths import REPO_ROOT
from tests.support.paths import SALT_DIR

SALT_LINT = Path(sys.executable).parent / "salt-lint"
OWN = ["core", "bastion", "salt_master", "microk8s", "orch/cluster.sls", "top.sls"]


def own_sls_files():
    files = []
    for entry in OWN:
        path = SALT_DIR / "states" / entry
        files += [path] if path.is_file() else sorted(path.rglob("*.sls"))
    return files + sorted(PILLAR_DIR.rglob("*.sls"))


@pytest.mark.skipif(not SALT_LINT.exists(), reason="salt-lint is not installed in this venv")
def test_salt_lint_clean():
    files = own_sls_files()
    assert len(files) > 15
    run = subprocess.run(
        [str(SALT_LINT), *map(str, files)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
