"""pillar/maas.sls compiled by Salt's own pillar compiler as the master does it: the drop
directory for the first region's hand-off (0700) and its file (0600, empty) created before
any push, the region's digest of what the master holds, the shared secret and the API key
for the racks, the API key alone for the first control plane, nothing for anyone else and
nothing at all outside a master."""

import copy
import hashlib
import json
import os
import shutil
import stat

import pytest
import salt.pillar

from tests.support.paths import PILLAR_DIR
from tests.support.state_tree import split_example
from tests.support.state_tree import write_sls

DOMAIN = "lab.kubesalt.test"
REGION = f"maas-region.{DOMAIN}"
RACK = f"maas-rack-0.{DOMAIN}"
MASTER = f"k8s-master.{DOMAIN}"
WORKER = f"k8s-worker-0.{DOMAIN}"
SECRET = "0f" * 16
KEY = "a" * 18 + ":" + "b" * 18 + ":" + "c" * 32


@pytest.fixture
def maas_root(tmp_path):
    """pillar/ with the example inventory plus a MAAS region and a rack."""
    root = tmp_path / "pillar"
    shutil.copytree(PILLAR_DIR, root)
    inventory, _ = split_example()
    nodes = inventory["kubesalt"]["nodes"]
    nodes[REGION] = {"roles": ["maas_db", "maas_region"], "private_ip": "10.1.0.30"}
    nodes[RACK] = {"roles": ["maas_rack"], "private_ip": "10.1.0.31"}
    write_sls(root / "_from_terraform.sls", inventory)
    return root


@pytest.fixture
def compile_on(minion_opts, maas_root, tmp_path):
    cachedir = tmp_path / "master-cache"

    def compile_(minion_id, role="master"):
        opts = copy.deepcopy(minion_opts)
        opts.update(
            {
                "pillar_roots": {"base": [str(maas_root)]},
                "kubesalt_join_secret_file": str(tmp_path / "join.secret"),
                "id": minion_id,
                "cachedir": str(cachedir),
                "__role": role,
            }
        )
        pillar = salt.pillar.get_pillar(opts, {"id": minion_id}, minion_id, saltenv="base")
        compiled = pillar.compile_pillar()
        assert "_errors" not in compiled, compiled["_errors"]
        return compiled.get("kubesalt", {}).get("maas")

    compile_.drop_dir = cachedir / "minions" / REGION / "files" / "kubesalt"
    return compile_


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_before_the_region_pushed(compile_on):
    assert compile_on(RACK) is None
    assert compile_on(MASTER) is None
    assert not compile_on.drop_dir.exists()
    assert compile_on(REGION) == {
        "handoff": {"path": "kubesalt/maas-handoff.json", "fingerprint": ""}
    }
    assert mode(compile_on.drop_dir) == 0o700
    handoff = compile_on.drop_dir / "maas-handoff.json"
    assert mode(handoff) == 0o600 and handoff.read_bytes() == b""
    # An empty file is no hand-off yet.
    assert compile_on(RACK) is None


def test_after_the_region_pushed(compile_on):
    compile_on(REGION)
    document = json.dumps({"api_key": KEY, "shared_secret": SECRET}, sort_keys=True) + "\n"
    # What Salt's _file_recv does: rewrite the existing file in place.
    handoff = compile_on.drop_dir / "maas-handoff.json"
    with open(handoff, "wb") as stream:
        stream.write(document.encode())
    assert mode(handoff) == 0o600
    assert compile_on(RACK) == {"api_key": KEY, "shared_secret": SECRET}
    assert compile_on(MASTER) == {"api_key": KEY}
    assert compile_on(WORKER) is None
    assert compile_on(REGION)["handoff"]["fingerprint"] == (
        hashlib.sha256(document.encode()).hexdigest()
    )
    # A directory loosened by hand is tightened again by the region's next compilation.
    compile_on.drop_dir.chmod(0o755)
    handoff.chmod(0o644)
    compile_on(REGION)
    assert mode(compile_on.drop_dir) == 0o700 and mode(handoff) == 0o600


def test_nothing_outside_a_master(compile_on):
    assert compile_on(REGION, role="minion") is None
    assert not compile_on.drop_dir.parent.exists()
