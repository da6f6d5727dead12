"""The MicroK8s simulator: ``snap`` and ``microk8s`` executables per host, and a cluster
agent daemon per node (see docs/simulators.md)."""

from kubesalt.sim.microk8s.node import SimNode

__all__ = ["SimNode"]
