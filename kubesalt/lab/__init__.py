"""The lab: isolated hosts (Linux namespaces + overlayfs) on this machine, with Salt in them."""

from kubesalt.lab.lab import Lab
from kubesalt.lab.lab import LabError
from kubesalt.lab.lab import requirements_problem

__all__ = ["Lab", "LabError", "requirements_problem"]
