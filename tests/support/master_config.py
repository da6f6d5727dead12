"""The salt master configuration the salt_master state writes (master.d/kubesalt.conf),
rendered by Salt's own Jinja renderer from defaults.yaml merged with a pillar's
``kubesalt:master``, as salt/states/map.jinja merges them."""

import salt.config
import salt.utils.dictupdate
import salt.utils.templates
import yaml

from tests.support.paths import PILLAR_DIR
from tests.support.paths import SALT_DIR

TEMPLATE = SALT_DIR / "states" / "salt_master" / "files" / "kubesalt.conf.jinja"


def state_master_config(pillar_sls=None) -> dict:
    """kubesalt.conf as YAML data, for the pillar file ``pillar_sls`` (relative to pillar/,
    plain YAML) or for the defaults alone."""
    defaults = yaml.safe_load((SALT_DIR / "states" / "defaults.yaml").read_text())
    master = defaults["kubesalt"]["master"]
    if pillar_sls:
        pillar = yaml.safe_load((PILLAR_DIR / pillar_sls).read_text()) or {}
        override = (pillar.get("kubesalt") or {}).get("master") or {}
        master = salt.utils.dictupdate.merge(master, override, merge_lists=False)
    opts = salt.config.minion_config(None)
    context = {"master": master, "opts": opts, "saltenv": "base", "grains": {}, "pillar": {}}
    text = salt.utils.templates.render_jinja_tmpl(TEMPLATE.read_text(), context)
    return yaml.safe_load(text)
