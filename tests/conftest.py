import os

import pytest

from tests.support import parallel
from tests.support.paths import EXT_DIRS
from tests.support.paths import REPO_ROOT


def pytest_addoption(parser):
    parser.addoption(
        "--lab-workers",
        type=int,
        default=2,
        help="with --dist loadgroup: at most this many xdist workers run lab or integration "
        "modules at a time",
    )


def pytest_configure(config):
    # Under pytest-xdist each worker's labs take their own lock (tests/support/parallel.py).
    parallel.use_worker_lab_env()


def pytest_xdist_make_scheduler(config, log):
    """`make test`'s ``--dist loadgroup``: whole files, or groups of files, per worker, and a
    bounded number of labs at a time (tests/support/parallel.py)."""
    if config.getoption("dist") == "loadgroup":
        return parallel.make_scheduler(config, log)
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """The long groups first: `make test` hands out the groups of ``--dist loadgroup`` in
    collection order (tests/support/parallel.py)."""
    parallel.plan(items)


@pytest.fixture(scope="session")
def salt_factories_config(tmp_path_factory):
    # Own root_dir: salt-factories reuses <root_dir>/scripts/cli_*.py, and a shared temp dir
    # would run another virtualenv's Salt.
    return {
        "root_dir": tmp_path_factory.mktemp("salt-factories"),
        "code_dir": str(REPO_ROOT),
        "inject_sitecustomize": "COVERAGE_PROCESS_START" in os.environ,
        "start_timeout": 120 if os.environ.get("CI") else 60,
    }


@pytest.fixture(scope="session")
def session_markers_loader(salt_factories):
    # Lets requires_salt_modules/requires_salt_states see our own modules.
    from saltfactories.utils.functional import Loaders

    factory = salt_factories.salt_minion_daemon(
        "session-markers-minion", overrides={"file_client": "local", **EXT_DIRS}
    )
    return Loaders(factory.config.copy())


# pytest-salt-factories binds its log server and its event listener to 0.0.0.0; the tests
# serve on loopback only.
LOOPBACK = "127.0.0.1"


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session):
    # Runs before the plugin's own sessionstart hook, which starts the log server.
    log_server = session.config.pluginmanager.get_plugin("saltfactories-log-server")
    if log_server is not None:
        log_server.log_host = LOOPBACK


@pytest.fixture(scope="session")
def event_listener():
    from saltfactories.plugins.event_listener import EventListener

    listener = EventListener()
    listener.host = LOOPBACK
    listener.address = f"tcp://{LOOPBACK}:{listener.port}"
    with listener:
        yield listener
