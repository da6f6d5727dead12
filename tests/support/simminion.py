"""Point a Salt loader at a simulated MicroK8s host (shared by the functional tests and the
benchmark)."""

import copy
import itertools

from saltfactories.utils.functional import Loaders

from tests.support.addresses import free_loopback_address
from tests.support.paths import EXT_DIRS

_LOADER_IDS = itertools.count()


def free_address() -> str:
    """A 127.0.2.x (the range of these tests) whose cluster-agent port (25000) is free now."""
    return free_loopback_address("127.0.2", 25000, range(10, 251), once=True)


class SimLoaders(Loaders):
    """Loaders that detect the grains once per session (2 s each time otherwise)."""

    _session_grains = None

    @property
    def grains(self):
        if SimLoaders._session_grains is None:
            SimLoaders._session_grains = copy.deepcopy(dict(super().grains))
        return SimLoaders._session_grains


def sim_opts(node, **extra):
    """Minion options that point the microk8s module at simulated host ``node``."""
    opts = {
        "microk8s.snap_data": str(node.root / "var/snap/microk8s/current"),
        "microk8s.bin": str(node.root / "snap/bin/microk8s"),
        "microk8s.snap_bin": str(node.snap_path),
        "microk8s.node_address": node.address,
        "microk8s.join_backoff": 0.1,
        "microk8s.join_attempts": 3,
        "microk8s.ready_timeout": 30,
    }
    opts.update(extra)
    return opts


def loaders_for(minion_opts, node, **extra):
    """A ``Loaders`` for a minion that manages simulated host ``node``."""
    opts = copy.deepcopy(minion_opts)
    opts.update(sim_opts(node, **extra))
    return SimLoaders(opts, loaded_base_name=f"kubesalt_mk8s_{next(_LOADER_IDS)}.loaded")


def local_minion_opts(salt_factories, tmp_path_factory, minion_id: str) -> dict:
    """The options of a masterless minion (local file client, kubesalt's extension modules,
    an empty pillar) for :func:`loaders_for`; no daemon is started."""
    overrides = {
        "file_client": "local",
        **EXT_DIRS,
        "pillar_roots": {"base": [str(tmp_path_factory.mktemp("empty-pillar"))]},
    }
    return salt_factories.salt_minion_daemon(minion_id, overrides=overrides).config.copy()
