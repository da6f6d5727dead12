"""Fakes of Salt functions (``__salt__`` entries) bound to the real function's signature.

A hand-written fake accepts whatever its author wrote, so a changed signature of the real
function (an argument renamed, added without a default, removed) would leave the test
passing while the product breaks. ``specced`` binds every call to the real signature first:
a call the real function would refuse raises TypeError, as it would in Salt.

    __salt__ = specced("modules", {"microk8s.join": fake_join, ...})

The real function is found by its Salt name: ours (``salt/_modules``, ``salt/_runners``,
loaded with :func:`tests.support.loading.load_ext`), else Salt's own (``salt.modules.*``,
``salt.runners.*``).
"""

from __future__ import annotations

import functools
import importlib
import inspect

from tests.support.loading import load_ext
from tests.support.paths import SALT_DIR

# Salt modules whose file name is not their Salt name (their __virtualname__).
_SALT_FILES = {"cmd": "cmdmod"}


@functools.cache
def real_function(kind: str, name: str):
    """The function Salt calls ``name`` (``module.function``) in ``kind`` ("modules" or
    "runners"): an extension of ours first, else Salt's own."""
    module_name, _, function = name.partition(".")
    if (SALT_DIR / f"_{kind}" / f"{module_name}.py").exists():
        module = load_ext(kind, module_name)
    else:
        module = importlib.import_module(f"salt.{kind}.{_SALT_FILES.get(module_name, module_name)}")
    aliases = {alias: real for real, alias in getattr(module, "__func_alias__", {}).items()}
    found = getattr(module, aliases.get(function, function), None)
    if not inspect.isfunction(found):
        raise AssertionError(f"a fake of {name}, which salt/{kind} does not have")
    return found


def bound(real, fake):
    """``fake``, called only with arguments ``real`` accepts (TypeError otherwise)."""
    signature = inspect.signature(real)

    @functools.wraps(fake)
    def call(*args, **kwargs):
        signature.bind(*args, **kwargs)
        return fake(*args, **kwargs)

    return call


def specced(kind: str, fakes: dict) -> dict:
    """``fakes`` (``{"module.function": fake}``) each bound to the real function's signature."""
    return {name: bound(real_function(kind, name), fake) for name, fake in fakes.items()}
