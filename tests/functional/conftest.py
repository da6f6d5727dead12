"""Functional tier: the real Salt loader with our modules, no daemons."""

import pytest
from saltfactories.utils.functional import Loaders

from tests.support.paths import EXT_DIRS
from tests.support.paths import PILLAR_DIR
from tests.support.paths import SALT_DIR


@pytest.fixture(scope="module")
def state_tree(tmp_path_factory):
    return tmp_path_factory.mktemp("state-tree")


@pytest.fixture(scope="module")
def minion_config_overrides():
    return {}


@pytest.fixture(scope="module")
def minion_opts(salt_factories, state_tree, minion_config_overrides):
    overrides = {
        "file_client": "local",
        **EXT_DIRS,
        "file_roots": {"base": [str(state_tree), str(SALT_DIR / "states")]},
        "pillar_roots": {"base": [str(PILLAR_DIR)]},
    }
    overrides.update(minion_config_overrides)
    factory = salt_factories.salt_minion_daemon("func-minion", overrides=overrides)
    return factory.config.copy()


@pytest.fixture(scope="module")
def loaders(minion_opts):
    return Loaders(minion_opts, loaded_base_name=f"{__name__}.loaded")


@pytest.fixture(autouse=True)
def reset_loaders_state(loaders):
    yield
    loaders.reset_state()


@pytest.fixture
def modules(loaders):
    return loaders.modules


@pytest.fixture
def states(loaders):
    return loaders.states
