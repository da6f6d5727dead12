# ruff: noqa: F821  (Salt injects __opts__ when it loads the module)
"""Test double of ``saltutil.runner`` for rendering the orchestration without a master.

Answers from ``kubesalt_fake_runner``: ``{runner function: value}``.
"""

__virtualname__ = "saltutil"


def __virtual__():
    return __virtualname__


def runner(name, **kwargs):
    """Return the canned answer of runner ``name``."""
    return __opts__.get("kubesalt_fake_runner", {}).get(name)


def sync_all(*args, **kwargs):
    """Nothing to sync in a test."""
    return {}
