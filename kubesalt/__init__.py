"""kubesalt: Salt extensions, state tree and lab for MicroK8s clusters and Canonical MAAS."""

__version__ = "0.1.0"
