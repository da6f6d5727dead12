"""Load a file of this repository by path: Salt extension modules (``salt/_modules``,
``salt/_states``, ``salt/_runners`` are file roots, not packages), for unit tests that set
the dunders themselves, and the scripts in ``tools/``. The one loader of the test suite."""

import importlib.util
import inspect
import pathlib

from tests.support.paths import SALT_DIR


def load_path(path: pathlib.Path, name: str):
    """Execute the Python file ``path`` as a fresh module called ``name``."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_ext(kind: str, name: str):
    """A fresh copy of ``salt/_<kind>/<name>.py`` (``kind``: modules, states, runners, engines)."""
    return load_path(SALT_DIR / f"_{kind}" / f"{name}.py", f"kubesalt_test_{kind}_{name}")


def public_functions(module) -> dict:
    """``{public name: signature}`` of the functions Salt's loader would expose: defined
    in the module, not private, renamed through ``__func_alias__``."""
    aliases = getattr(module, "__func_alias__", {})
    found = {}
    for name, obj in vars(module).items():
        if name.startswith("_") or not inspect.isfunction(obj):
            continue
        if obj.__module__ != module.__name__:
            continue  # imported, not the module's own
        found[aliases.get(name, name)] = str(inspect.signature(obj))
    return found
