"""The test tree's own rules (issue 14 item 4, docs/architecture.md "Tests"): a helper two
test modules share lives once in tests/support, so no test module, benchmark or conftest
imports another test module or a conftest."""

import ast

import pytest

from tests.support.paths import SALT_DIR

TESTS = SALT_DIR.parent / "tests"
# Only tests.support is a library; every other folder of tests/ holds tests.
SHARED = "tests.support"


def imported_modules(path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


TEST_FILES = sorted(p for p in TESTS.rglob("*.py") if "support" not in p.relative_to(TESTS).parts)


@pytest.mark.parametrize("path", TEST_FILES, ids=lambda p: str(p.relative_to(TESTS)))
def test_no_test_module_imports_another(path):
    foreign = {
        name
        for name in imported_modules(path)
        if (name == "tests" or name.startswith("tests."))
        and name != SHARED
        and not name.startswith(SHARED + ".")
    }
    assert not foreign, (
        f"{path.relative_to(TESTS)} imports {sorted(foreign)}: move it to tests/support"
    )
