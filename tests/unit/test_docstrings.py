"""What `salt-call sys.doc` / `sys.state_doc` / `salt-run doc.runner` print stays complete:
every parameter of every public function of the extension modules (execution modules,
states, runners, an engine's ``start``) is a term of its docstring's definition list
(``name`` on a line of its own, or several names joined by ``/``, then the text indented
below), and every execution and runner function shows a ``CLI Example:``."""

import inspect
import re

import pytest

from tests.support.loading import load_ext
from tests.support.loading import public_functions
from tests.support.paths import SALT_DIR

KINDS = ("modules", "states", "runners", "engines")
TERM = re.compile(r"^\s*([A-Za-z_]\w*(?:\s*/\s*[A-Za-z_]\w*)*)\s*$")
FILES = sorted(
    f"{kind}/{path.stem}" for kind in KINDS for path in (SALT_DIR / f"_{kind}").glob("*.py")
)


def documented_terms(doc: str) -> set[str]:
    terms = set()
    for line in doc.splitlines():
        found = TERM.match(line)
        if found:
            terms |= {name.strip() for name in found.group(1).split("/")}
    return terms


# What Salt's loader calls of an engine: only ``start`` (its other functions are helpers).
ENGINE_ENTRY = "start"


def functions(kind, stem):
    module = load_ext(kind, stem)
    names = public_functions(module)
    if kind == "engines":
        names = [name for name in names if name == ENGINE_ENTRY]
    aliases = {alias: real for real, alias in getattr(module, "__func_alias__", {}).items()}
    return {name: getattr(module, aliases.get(name, name)) for name in names}


@pytest.mark.parametrize("name", FILES)
def test_every_parameter_is_documented(name):
    kind, stem = name.split("/")
    missing = []
    for function_name, function in functions(kind, stem).items():
        terms = documented_terms(inspect.getdoc(function) or "")
        for parameter in inspect.signature(function).parameters.values():
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                continue
            if parameter.name not in terms:
                missing.append(f"{function_name}({parameter.name})")
    assert not missing, f"salt/_{kind}/{stem}.py: undocumented parameters: {missing}"


@pytest.mark.parametrize("name", [f for f in FILES if f.split("/")[0] in ("modules", "runners")])
def test_every_execution_and_runner_function_has_a_cli_example(name):
    kind, stem = name.split("/")
    without = [
        function_name
        for function_name, function in functions(kind, stem).items()
        if "CLI Example:" not in (inspect.getdoc(function) or "")
    ]
    assert not without, f"salt/_{kind}/{stem}.py: no CLI Example: {without}"
