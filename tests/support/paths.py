"""Paths of the work tree the tests point Salt at."""

import pathlib

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
SALT_DIR = REPO_ROOT / "salt"
PILLAR_DIR = REPO_ROOT / "pillar"
VENV_BIN = REPO_ROOT / ".venv" / "bin"

# One option per loader type. Not module_dirs=[SALT_DIR]: Salt would take salt/states (the SLS
# tree) as the state-module directory and our salt/_states would go missing.
EXT_DIRS = {
    "module_dirs": [str(SALT_DIR / "_modules")],
    "states_dirs": [str(SALT_DIR / "_states")],
    "utils_dirs": [str(SALT_DIR / "_utils")],
}

TERRAFORM_DIR = REPO_ROOT / "terraform"
CLOUDINIT_DIR = TERRAFORM_DIR / "modules" / "cloudinit"
