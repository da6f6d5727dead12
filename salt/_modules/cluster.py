"""
The cluster as the state tree sees it: pillar validation and the data the SLS files need.

The state tree calls :func:`settings` from ``map.jinja``: the state tree's defaults with the
pillar merged over them, validated, so a bad pillar stops a run while it renders, before any
state changes anything. The other functions turn the inventory (the
``kubesalt`` pillar) and the mine into the plain lists the SLS files loop over, so no SLS
carries logic in Jinja.
"""

import copy
import hashlib
import json
import logging
import os

import salt.utils.secret
import salt.utils.yaml
from salt.exceptions import CommandExecutionError
from salt.exceptions import SaltInvocationError

import cluster_lib.cluster as _cluster
import cluster_lib.validate as _validate

log = logging.getLogger(__name__)

__virtualname__ = "cluster"

DEFAULTS_FILE = "salt://defaults.yaml"
# Where :func:`settings` keeps what it computed, in the loader's ``__context__``.
SETTINGS_CONTEXT_KEY = "cluster.settings"

PRIVATE_IP_MINE = "kubesalt_private_ip"
JOIN_INFO_MINE = "microk8s_join_info"


def __virtual__():
    return __virtualname__


def _config(config):
    if config is None:
        return __pillar__.get("kubesalt", {})
    if not isinstance(config, dict):
        raise SaltInvocationError(f"config: expected a mapping, got {type(config).__name__}")
    return config


def validate(config=None):
    """
    Check the kubesalt pillar (merged with the state tree's defaults) and this minion's id.

    Returns True, or raises an error listing every problem as ``<pillar key>: <message>``.
    Kernel settings (``kubesalt:sysctl``) must exist on this host (``/proc/sys``).

    config
        The merged ``kubesalt`` data. Defaults to this minion's ``kubesalt`` pillar.

    CLI Example:

    .. code-block:: bash

        salt '*' cluster.validate
    """
    try:
        _validate.validate(_config(config), __opts__["id"], sysctl_exists=_sysctl_exists)
    except _validate.PillarError as err:
        raise CommandExecutionError(str(err)) from err
    return True


def settings(saltenv="base"):
    """
    Return the ``kubesalt`` settings of the state tree: ``defaults.yaml`` with the
    ``kubesalt`` pillar merged over it (dicts recursively, lists and scalars replaced),
    validated by :func:`validate` (a bad pillar raises, naming each key).

    ``map.jinja`` calls this for every SLS file that imports it. The result is kept in the
    loader's ``__context__``, keyed by ``saltenv`` and the ``kubesalt`` pillar: every state
    run (``state.highstate``, ``state.apply``) gets its own copy of that context, so the
    defaults are fetched, merged and validated once per run instead of once per SLS file,
    and a run never sees an earlier run's defaults. Each caller gets its own deep copy.
    Outside a template (this CLI example) every value is redacted, as ``pillar.get``
    redacts pillar values: the settings carry the pillar's secrets.

    saltenv
        The file server environment ``defaults.yaml`` is read from.

    CLI Example:

    .. code-block:: bash

        salt '*' cluster.settings
    """
    pillar = salt.utils.secret.expose(__pillar__.get("kubesalt", {}))
    key = hashlib.sha256(
        json.dumps([saltenv, pillar], sort_keys=True, default=repr).encode()
    ).hexdigest()
    cached = __context__.setdefault(SETTINGS_CONTEXT_KEY, {})
    if key not in cached:
        text = __salt__["cp.get_file_str"](DEFAULTS_FILE, saltenv=saltenv)
        if text is False:
            raise CommandExecutionError(f"{DEFAULTS_FILE}: not found in saltenv {saltenv!r}")
        defaults = (salt.utils.yaml.safe_load(text) or {}).get("kubesalt") or {}
        merged = __salt__["slsutil.merge"](defaults, pillar, merge_lists=False)
        validate(merged)
        cached[key] = merged
    if salt.utils.secret.mask_pillar.get():
        # Not inside a template: an output boundary, redacted as pillar.get redacts it.
        return salt.utils.secret.serial(cached[key])
    return copy.deepcopy(cached[key])


def _sysctl_exists(name):
    return os.path.exists(_validate.sysctl_path(name))


def minion_id_ok(minion_id=None):
    """
    Return True when a minion id matches the strict pattern the pillar top file uses.

    minion_id
        The id to check. Defaults to this minion's id.

    CLI Example:

    .. code-block:: bash

        salt '*' cluster.minion_id_ok
        salt '*' cluster.minion_id_ok 'node*.lab.kubesalt.test'
    """
    return _validate.minion_id_ok(__opts__["id"] if minion_id is None else minion_id)


def _mine(function, targets):
    if not targets:
        return {}
    found = __salt__["mine.get"](",".join(targets), function, tgt_type="list")
    return found if isinstance(found, dict) else {}


def hosts(config=None):
    """
    Return the ``/etc/hosts`` entries of every inventory node: ``[{ip, names}]``.

    The address is the one the node published in the mine (``kubesalt_private_ip``) and,
    until it has, the inventory's ``private_ip``. Names are the FQDN and the short name.

    config
        The merged ``kubesalt`` data. Defaults to this minion's ``kubesalt`` pillar.

    CLI Example:

    .. code-block:: bash

        salt '*' cluster.hosts
    """
    config = _config(config)
    nodes = config.get("nodes") or {}
    published = _mine(PRIVATE_IP_MINE, sorted(nodes))
    private_cidr = (config.get("networks") or {}).get("private_cidr")
    return _cluster.host_entries(nodes, published, private_cidr)


def addons(config=None):
    """
    Return the addon plan from the pillar: ``{"enabled": [{name, args}], "disabled": [name]}``.

    config
        The merged ``kubesalt`` data. Defaults to this minion's ``kubesalt`` pillar.

    CLI Example:

    .. code-block:: bash

        salt '*' cluster.addons
    """
    return _cluster.addon_plan((_config(config).get("microk8s") or {}).get("addons") or {})


def launch_config(config=None):
    """
    Return MicroK8s' launch configuration for this node (written to ``/etc/microk8s.yaml``
    before the snap is installed): pod and service networks from
    ``kubesalt:networks:pod_cidr``/``service_cidr``, the service network's first address as
    a certificate SAN, the cluster DNS address, and the kubelet's ``--node-ip`` pinned to
    this node's ``private_ip`` from the inventory (when it has one).

    config
        The merged ``kubesalt`` data. Defaults to this minion's ``kubesalt`` pillar.

    CLI Example:

    .. code-block:: bash

        salt '*' cluster.launch_config
    """
    config = _config(config)
    node = (config.get("nodes") or {}).get(__opts__["id"]) or {}
    return _cluster.launch_config(config.get("networks") or {}, node.get("private_ip"))


def join_plan(config=None):
    """
    Return how this node joins the MicroK8s cluster.

    ``{"role": "bootstrap" | "control-plane" | "worker" | None, "addresses": [...],
    "fingerprint": {ip: check} | None, "waiting_for": [...]}``. A node joins through the
    control planes in turn, the bootstrap one first (every control plane in the cluster
    registers the pending nodes' tokens): ``addresses`` holds the join address
    (``IP:25000``) each other control plane published in the mine, ``fingerprint`` each
    one's agent certificate check; ``waiting_for`` names the bootstrap control plane while
    no control plane has published anything. No token is returned: the SLS reads it from
    this node's own pillar.

    config
        The merged ``kubesalt`` data. Defaults to this minion's ``kubesalt`` pillar.

    CLI Example:

    .. code-block:: bash

        salt 'k8s-worker-0*' cluster.join_plan
    """
    config = _config(config)
    microk8s = config.get("microk8s") or {}
    control_planes = list(microk8s.get("control_planes") or [])
    published = _mine(JOIN_INFO_MINE, control_planes)
    return _cluster.join_plan(
        __opts__["id"], control_planes, list(microk8s.get("workers") or []), published
    )


def cluster_nodes(config=None):
    """
    Return the Kubernetes node names of every MicroK8s node in the inventory (short names).

    config
        The merged ``kubesalt`` data. Defaults to this minion's ``kubesalt`` pillar.

    CLI Example:

    .. code-block:: bash

        salt 'k8s-master*' cluster.cluster_nodes
    """
    microk8s = _config(config).get("microk8s") or {}
    return _cluster.node_names(
        list(microk8s.get("control_planes") or []) + list(microk8s.get("workers") or [])
    )


def membership(config=None):
    """
    Compare the MicroK8s cluster with the inventory, on the bootstrap control plane.

    Returns ``{"pending": [minion ids], "stale": [node names]}``: ``pending`` are the
    inventory's MicroK8s nodes (after the bootstrap one) not in the cluster yet, whose join
    tokens must be registered; ``stale`` are Kubernetes nodes no longer in the inventory, to
    remove. Nodes are matched by their InternalIP against the inventory's addresses (each
    node's ``private_ip`` and the address it published in the mine), never by name: a
    host's name need not be its minion id's first label. This node is never stale, and
    when no node of the cluster matches the inventory at all, none is. While MicroK8s is
    not installed or not running, every node is pending and none is stale.

    config
        The merged ``kubesalt`` data. Defaults to this minion's ``kubesalt`` pillar.

    CLI Example:

    .. code-block:: bash

        salt 'k8s-master*' cluster.membership
    """
    config = _config(config)
    microk8s = config.get("microk8s") or {}
    control_planes = list(microk8s.get("control_planes") or [])
    expected = control_planes[1:] + list(microk8s.get("workers") or [])
    current = None
    if "microk8s.nodes" in __salt__:
        try:
            if __salt__["microk8s.is_running"]():
                current = __salt__["microk8s.nodes"]()
        except CommandExecutionError as err:
            log.debug("No node list from MicroK8s, every node counts as pending: %s", err)
    inventory = {}
    if current is not None:
        nodes = config.get("nodes") or {}
        ids = control_planes[:1] + expected
        published = _mine(PRIVATE_IP_MINE, ids)
        private_cidr = (config.get("networks") or {}).get("private_cidr")
        inventory = _cluster.inventory_addresses(ids, nodes, published, private_cidr)
    local = {
        "names": sorted({__grains__.get("host"), __grains__.get("nodename")} - {None, ""}),
        "addresses": (
            __salt__["microk8s.node_addresses"]()
            if "microk8s.node_addresses" in __salt__
            else list(__grains__.get("ipv4") or [])
        ),
    }
    return _cluster.membership(inventory, expected, current, local)
