"""Rendering the state tree and the layered pillar for any minion id, without daemons.

Each node gets its own loader (the minion id drives the pillar top file and the SLS files),
over a copy of pillar/ to which the example inventory (pillar.example) is added as
``_from_terraform.sls`` and the example settings as a host layer.
"""

import copy
import shutil

import pytest
from saltfactories.utils.functional import Loaders

from tests.support.paths import PILLAR_DIR
from tests.support.state_tree import EXAMPLE
from tests.support.state_tree import JOIN_SECRET
from tests.support.state_tree import split_example
from tests.support.state_tree import write_sls


@pytest.fixture(scope="module")
def pillar_root(tmp_path_factory):
    """A copy of pillar/ plus the example inventory and, for every node, the example settings
    (kubesalt and maas)."""
    root = tmp_path_factory.mktemp("pillar")
    shutil.copytree(PILLAR_DIR, root, dirs_exist_ok=True)
    inventory, settings = split_example()
    write_sls(root / "_from_terraform.sls", inventory)
    settings = {**settings, "maas": EXAMPLE["maas"]}
    for node_id in inventory["kubesalt"]["nodes"]:
        write_sls(root / "minions" / "defaults" / f"{node_id.partition('.')[0]}.sls", settings)
    return root


@pytest.fixture(scope="module")
def join_secret_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("master") / "join.secret"
    path.write_text(JOIN_SECRET + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def node_loaders(minion_opts, pillar_root, join_secret_file):
    """``node_loaders(minion_id, **opts)`` -> Loaders for that minion id (cached)."""
    cache = {}

    def make(minion_id, **extra_opts):
        key = (minion_id, repr(sorted(extra_opts.items())))
        if key not in cache:
            opts = copy.deepcopy(minion_opts)
            opts.update(
                {
                    "id": minion_id,
                    "pillar_roots": {"base": [str(pillar_root)]},
                    "kubesalt_join_secret_file": str(join_secret_file),
                }
            )
            opts.update(extra_opts)
            cache[key] = Loaders(opts, loaded_base_name=f"{__name__}.{len(cache)}.loaded")
        return cache[key]

    return make
