"""Load a Salt extension module of this repository by path (``salt/_modules`` and
``salt/_states`` are file roots, not packages), for ``configure_loader_modules``."""

import importlib.util

from tests.support.paths import SALT_DIR


def load_ext(kind: str, name: str):
    path = SALT_DIR / f"_{kind}" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"kubesalt_test_{kind}_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
