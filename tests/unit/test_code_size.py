"""Size limits of product code (issue 14): no module over 700 lines of code and no function
over 80, docstrings, comments and blank lines not counted.

Product code is what users run: the Salt extensions and their helpers (``salt/``), the
pillar's Python (``pillar/``) and the ``kubesalt`` package, except the simulators
(``kubesalt/sim``) and the lab cloud's OpenStack and Terraform providers
(``kubesalt/cloud``). Those stand in for upstream products and reproduce their CLIs and
APIs, which branch a lot by design: the same scope as the complexity rules of ``ruff.toml``.
"""

import ast
import io
import tokenize

from tests.support.paths import REPO_ROOT

MAX_MODULE_LINES = 700
MAX_FUNCTION_LINES = 80
PRODUCT_TREES = ("salt", "pillar", "kubesalt")
EXEMPT_TREES = ("kubesalt/sim", "kubesalt/cloud")


def product_files() -> list:
    found = []
    for tree in PRODUCT_TREES:
        for path in sorted((REPO_ROOT / tree).rglob("*.py")):
            relative = path.relative_to(REPO_ROOT).as_posix()
            if not any(relative.startswith(f"{exempt}/") for exempt in EXEMPT_TREES):
                found.append(path)
    return found


def _docstring_lines(tree: ast.AST) -> set:
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                lines.update(range(first.lineno, first.end_lineno + 1))
    return lines


def code_lines(source: str) -> tuple[set, ast.AST]:
    """The numbers of the lines that hold code (a token other than a comment), docstrings
    left out; and the module's syntax tree."""
    tree = ast.parse(source)
    skipped = {
        tokenize.COMMENT,
        tokenize.NL,
        tokenize.NEWLINE,
        tokenize.INDENT,
        tokenize.DEDENT,
        tokenize.ENDMARKER,
    }
    lines = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in skipped:
            lines.update(range(token.start[0], token.end[0] + 1))
    return lines - _docstring_lines(tree), tree


def oversized(paths) -> tuple[list, list]:
    """``(modules, functions)`` over the limits, as ``path: N lines`` texts."""
    modules, functions = [], []
    for path in paths:
        lines, tree = code_lines(path.read_text(encoding="utf-8"))
        relative = path.relative_to(REPO_ROOT).as_posix()
        if len(lines) > MAX_MODULE_LINES:
            modules.append(f"{relative}: {len(lines)} lines of code")
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                count = sum(1 for line in lines if node.lineno <= line <= node.end_lineno)
                if count > MAX_FUNCTION_LINES:
                    functions.append(f"{relative}:{node.lineno} {node.name}: {count} lines of code")
    return modules, functions


def test_code_lines_leave_out_docstrings_comments_and_blank_lines():
    source = (
        '"""Module docstring\n\nover lines."""\n'
        "# a comment\n"
        "\n"
        "def f(x):\n"
        '    """Docstring."""\n'
        "    # why\n"
        "    return (x +\n"
        "            1)  # trailing comment\n"
        "TEXT = '''\n"
        "not a docstring\n"
        "'''\n"
    )
    lines, _tree = code_lines(source)
    assert sorted(lines) == [6, 9, 10, 11, 12, 13]


def test_the_scope_is_product_code_only():
    names = {path.relative_to(REPO_ROOT).as_posix() for path in product_files()}
    assert "salt/_modules/microk8s.py" in names
    assert "kubesalt/lab/lab.py" in names
    assert not any(name.startswith(("kubesalt/sim/", "kubesalt/cloud/")) for name in names)


def test_no_product_module_over_700_lines_of_code():
    modules, _functions = oversized(product_files())
    assert not modules, "split these modules along their seams:\n" + "\n".join(modules)


def test_no_product_function_over_80_lines_of_code():
    _modules, functions = oversized(product_files())
    assert not functions, "split these functions (a helper per step):\n" + "\n".join(functions)
