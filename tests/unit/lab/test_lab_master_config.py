"""The salt master's configuration has one author per value: `kubesalt lab up` starts the
master with what the salt_master state writes afterwards under the lab pillar, for every
key both write (kubesalt/lab/saltconf.py SHARED_MASTER_KEYS)."""

import pathlib
import re
import types

import salt.config
import salt.loader
import yaml

from kubesalt.lab import saltconf
from tests.support.master_config import state_master_config


def test_lab_bootstrap_config_equals_the_state_under_the_lab_pillar():
    lab = yaml.safe_load(saltconf.master_config(types.SimpleNamespace(private_ip="10.1.0.5")))
    state = state_master_config("environments/lab_kubesalt_test.sls")
    shared = {key: lab[key] for key in saltconf.SHARED_MASTER_KEYS}
    assert shared == {key: state[key] for key in saltconf.SHARED_MASTER_KEYS}
    # Every other key of the lab's file is its own: the state does not write it.
    assert not (set(lab) - set(saltconf.SHARED_MASTER_KEYS)) & set(state)


def test_lab_minions_do_not_sync_modules_on_each_state_run():
    """As Terraform's minion configuration (tests/terraform/test_cloudinit_render.py): our
    modules reach minions by ``saltutil.sync_all``, not at the start of every highstate."""
    host = types.SimpleNamespace(minion_id="k8s-worker-0.lab.kubesalt.test")
    master = types.SimpleNamespace(fqdn="salt.lab.kubesalt.test")
    config = yaml.safe_load(saltconf.minion_config(host, master))
    opts = salt.config.apply_minion_config(config)
    assert opts["autoload_dynamic_modules"] is False


def test_lab_minions_do_not_load_every_module_when_a_function_is_missing():
    """The first ``service.running`` of a highstate asks ``"service.offline" in __salt__``;
    a lab host's ``debian_service`` (no systemd as PID 1) has no ``offline``. Salt's loader
    answers that miss after trying the modules named like ``service``: it does not import
    every execution module (~270, seconds per highstate) as its default fallback does."""
    host = types.SimpleNamespace(minion_id="k8s-worker-0.lab.kubesalt.test")
    master = types.SimpleNamespace(fqdn="salt.lab.kubesalt.test")
    config = yaml.safe_load(saltconf.minion_config(host, master))
    opts = salt.config.apply_minion_config(config)
    opts["grains"] = {"os": "Debian", "os_family": "Debian", "kernel": "Linux"}
    mods = salt.loader.minion_mods(opts, utils=salt.loader.utils(opts))
    assert "service.no_such_function" not in mods
    assert mods.loaded_files
    assert all("service" in name for name in mods.loaded_files), sorted(mods.loaded_files)


def test_our_modules_are_found_by_strict_matching():
    """Strict matching finds a module only in files named like the name asked for: each of
    our modules with a ``__virtualname__`` has that name in its file name."""
    for kind in ("_modules", "_states"):
        for path in (pathlib.Path(__file__).parents[3] / "salt" / kind).glob("*.py"):
            match = re.search(r"^__virtualname__ = \"(\w+)\"", path.read_text(), re.M)
            assert match is None or match.group(1) in path.stem, path
