"""Minion options of a module, flat (``microk8s.bin: ...``) or nested (``microk8s: {bin: ...}``),
as Salt's own ``config.option`` accepts both."""

from __future__ import annotations


def option(opts, module: str, name: str, default=None):
    """The value of option ``<module>.<name>`` in ``opts`` (``__opts__``); the flat key
    wins over the nested one; ``default`` when neither is set."""
    key = f"{module}.{name}"
    if key in opts:
        return opts[key]
    nested = opts.get(module)
    if isinstance(nested, dict) and name in nested:
        return nested[name]
    return default
