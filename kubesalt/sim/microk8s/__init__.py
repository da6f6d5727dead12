"""The MicroK8s simulator: ``snap`` and ``microk8s`` executables per host, and a cluster
agent daemon per node (see docs/simulators.md)."""

__all__ = ["SimNode"]


def __getattr__(name):
    # Lazy: the launchers import submodules of this package on every simulated command, and
    # SimNode pulls in more than a command needs.
    if name == "SimNode":
        from kubesalt.sim.microk8s.node import SimNode  # noqa: PLC0415

        return SimNode
    raise AttributeError(name)
