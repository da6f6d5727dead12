"""Integration tier: a real salt-master and salt-minions (pytest-salt-factories) on loopback.

Each minion is a MicroK8s host of its own: a simulator root and a 127.0.3.x address, put on
the minion's PATH through the daemon's environment.
"""

import pytest
from saltfactories.utils import random_string

from tests.support.paths import SALT_DIR


@pytest.fixture(scope="package")
def salt_master(salt_factories):
    factory = salt_factories.salt_master_daemon(random_string("master-"))
    # Serve the real _modules/_states/_utils from the master's file roots, so minions get
    # them through saltutil.sync_all exactly as in production.
    for kind in ("_modules", "_states", "_utils"):
        (factory.state_tree.base.write_path / kind).symlink_to(SALT_DIR / kind)
    with factory.started():
        yield factory


@pytest.fixture(scope="package")
def salt_cli(salt_master):
    return salt_master.salt_cli(timeout=180)
