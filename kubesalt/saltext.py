"""Where Salt's loader finds kubesalt's execution and state modules after ``pip install .``.

Registered as the ``salt.loader`` entry point in ``setup.cfg``. Salt calls
:func:`loader_dirs` for every loader type and reads the directories listed under that type,
so ``salt-call --local microk8s.status`` works on a minion without a master.
"""

from __future__ import annotations

import importlib.metadata
import pathlib

# Loader type -> directory under the repository's ``salt/`` folder.
_KINDS = {"modules": "_modules", "states": "_states"}


def _candidate_roots() -> list[pathlib.Path]:
    roots = []
    # Installed distribution: the modules are data files under <prefix>/share/kubesalt/salt.
    try:
        dist = importlib.metadata.distribution("kubesalt")
    except importlib.metadata.PackageNotFoundError:
        dist = None
    if dist is not None:
        for path in dist.files or ():
            parts = pathlib.PurePosixPath(path).parts
            if "share" in parts and parts[-2:-1] == ("_modules",):
                roots.append(pathlib.Path(dist.locate_file(path)).resolve().parent.parent)
                break
    # Source checkout (editable installs, running from the work tree).
    roots.append(pathlib.Path(__file__).resolve().parent.parent / "salt")
    return roots


def loader_dirs() -> dict[str, list[str]]:
    """Return ``{loader type: [directories]}`` for the first root that holds the modules."""
    for root in _candidate_roots():
        if (root / "_modules").is_dir():
            return {
                kind: [str(root / sub)] for kind, sub in _KINDS.items() if (root / sub).is_dir()
            }
    return {}
