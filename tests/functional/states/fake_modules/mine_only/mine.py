# ruff: noqa: F821  (Salt injects __opts__ when it loads the module)
"""Test double of Salt's ``mine`` module: ``mine.get`` answers from ``kubesalt_fake_mine``.

In a masterless loader the real ``mine.get`` only sees the local minion's own data; the
rendering tests need what other minions published. Loaded only by tests that ask for it.
"""

__virtualname__ = "mine"


def __virtual__():
    return __virtualname__


def get(tgt, fun, tgt_type="glob", exclude_minion=False):
    """Return ``{minion: value}`` of ``fun`` for the minions of a list target."""
    published = __opts__.get("kubesalt_fake_mine", {}).get(fun, {})
    wanted = tgt.split(",") if isinstance(tgt, str) else list(tgt)
    return {minion: value for minion, value in published.items() if minion in wanted}


def update(clear=False, mine_functions=None):
    """Nothing to send in a test."""
    return True
