"""The public interface of every execution module, state module, runner and engine: each public
function keeps the signature recorded in cases/argspec.yaml (loaded by path, as the unit
tests load them). A changed, added or removed function fails here, so a change of what
users call (from the CLI, SLS files or orchestrations) is always a deliberate one: update
the record in the same commit, e.g. with

    .venv/bin/python -m tests.unit.test_argspec > tests/unit/cases/argspec.yaml
"""

import sys

import pytest
import yaml

from tests.support.loading import load_ext
from tests.support.loading import public_functions
from tests.support.paths import SALT_DIR

KINDS = ("modules", "states", "runners", "engines")
RECORD = SALT_DIR.parent / "tests" / "unit" / "cases" / "argspec.yaml"


def current() -> dict:
    return {
        f"{kind}/{path.stem}": public_functions(load_ext(kind, path.stem))
        for kind in KINDS
        for path in sorted((SALT_DIR / f"_{kind}").glob("*.py"))
    }


RECORDED = (yaml.safe_load(RECORD.read_text(encoding="utf-8")) if RECORD.exists() else None) or {}
ON_DISK = {f"{k}/{p.stem}" for k in KINDS for p in (SALT_DIR / f"_{k}").glob("*.py")}
FILES = sorted({*RECORDED, *ON_DISK})


def test_every_extension_file_is_recorded():
    assert set(RECORDED) == ON_DISK


@pytest.mark.parametrize("name", FILES)
def test_public_functions_keep_their_signatures(name):
    kind, stem = name.split("/")
    if not (SALT_DIR / f"_{kind}" / f"{stem}.py").exists():
        pytest.fail(f"salt/_{kind}/{stem}.py is recorded in {RECORD.name} but gone")
    assert public_functions(load_ext(kind, stem)) == RECORDED.get(name), (
        f"salt/_{kind}/{stem}.py: its public functions differ from {RECORD.name}"
    )


if __name__ == "__main__":  # regenerate the record (see the module docstring)
    sys.path.insert(0, str(SALT_DIR / "_utils"))
    yaml.safe_dump(current(), sys.stdout, sort_keys=True, width=200)
