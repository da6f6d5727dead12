"""The inventory Terraform writes (``_from_terraform.sls``), read by the pillar's Python
layers (``cluster.sls``, ``maas.sls``) on the master: never from the minion's own data.

Not a pillar SLS (no ``.sls``): the layers load it from their own directory.
"""

import logging
import os

import yaml

log = logging.getLogger(__name__)

INVENTORY_SLS = "_from_terraform.sls"


def read(opts, saltenv):
    """The ``kubesalt`` mapping of the inventory file, from the first pillar root holding it
    (the order in which Salt itself would find it); ``{}`` when there is none."""
    for root in (opts.get("pillar_roots") or {}).get(saltenv) or []:
        path = os.path.join(root, INVENTORY_SLS)
        try:
            with open(path, encoding="utf-8") as handle:
                data = yaml.safe_load(handle) or {}
        except FileNotFoundError:
            continue
        except (OSError, yaml.YAMLError) as err:
            log.error("kubesalt: cannot read the inventory %s: %s", path, err)
            return {}
        inventory = data.get("kubesalt") if isinstance(data, dict) else None
        return inventory if isinstance(inventory, dict) else {}
    return {}
