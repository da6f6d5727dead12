"""Point a Salt loader at a simulated MicroK8s host (shared by the functional tests and the
benchmark)."""

import copy
import itertools
import random
import socket

from saltfactories.utils.functional import Loaders

_LOADER_IDS = itertools.count()
_HANDED_OUT: set[str] = set()


def free_address() -> str:
    """A random 127.0.2.x (the range of these tests) whose cluster-agent port is free now:
    a test run must not collide with another run of the same suite on this machine."""
    for _ in range(500):
        address = f"127.0.2.{random.randint(10, 250)}"
        if address in _HANDED_OUT:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((address, 25000))
            except OSError:
                continue
        _HANDED_OUT.add(address)
        return address
    raise RuntimeError("no free address with port 25000 in 127.0.2.0/24")


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
