"""Backups on the salt master's persistent volume: the MicroK8s datastore archives that
control planes push (``microk8s.backup push=True``), and the master's own state (its PKI,
the join secret, the inventory).

``orch.backup`` (scheduled by the master, see the salt_master state) runs
``microk8s.backup push=True`` on a control plane, then :func:`collect`. The pushed archive
arrives through Salt's ``file_recv`` in ``<cachedir>/minions/<id>/files/kubesalt-backups/``
(never through a job return, so never in the job cache); :func:`collect` moves it to
``<directory>/dqlite/`` (0600 in a 0700 directory) and keeps the newest ``keep``.
``orch.restore`` asks :func:`latest` for the archive to restore.

Layout of ``directory`` (default ``/srv/kubesalt/backups``, on the master's volume)::

    dqlite/backup-YYYY-MM-DD-HH-MM-SS.tar.gz    microk8s dbctl backup archives
    master/master-YYYY-MM-DD-HH-MM-SS.tar.gz    pki_dir, the join secret, the inventory
"""

import json
import logging
import os
import pathlib
import shutil
import tarfile
import time

log = logging.getLogger(__name__)

__virtualname__ = "microk8s_backup"

UPLOAD_DIR = "kubesalt-backups"  # microk8s.backup's upload_path
DEFAULT_DIRECTORY = "/srv/kubesalt/backups"
INVENTORY_SLS = "_from_terraform.sls"


def __virtual__():
    return __virtualname__


def _private_dir(path):
    path = pathlib.Path(path)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def _prune(folder, pattern, keep):
    archives = sorted(folder.glob(pattern))
    removed = archives[: max(0, len(archives) - int(keep))]
    for old in removed:
        old.unlink()
    return [old.name for old in removed]


def _join_secret_file():
    configured = __opts__.get("kubesalt_join_secret_file")
    return configured or os.path.join(__opts__["pki_dir"], "kubesalt", "join.secret")


def _inventory_file():
    """The inventory as the master's pillar reads it: the first pillar root holding it."""
    for root in (__opts__.get("pillar_roots") or {}).get("base") or []:
        candidate = os.path.join(root, INVENTORY_SLS)
        if os.path.exists(candidate):
            return candidate
    return None


def collect(directory=DEFAULT_DIRECTORY, keep=7, inventory=None):
    """
    Move every datastore archive the control planes pushed into ``<directory>/dqlite``,
    archive the master's own state into ``<directory>/master``, and keep the newest
    ``keep`` of each (the inventory: ``_from_terraform.sls`` of the first pillar root that
    has it, unless ``inventory`` names another file). Returns ``{"collected": [names],
    "sizes": {name: bytes}, "master": name, "removed": [names]}``; the archives' content
    is never returned or logged.

    directory
        The backup directory on the master (default ``/srv/kubesalt/backups``).
    keep
        How many archives of each kind to keep (default 7).
    inventory
        The inventory file (default: ``_from_terraform.sls`` of the first pillar root that
        has it).

    CLI Example:

    .. code-block:: bash

        salt-run microk8s_backup.collect keep=14
    """
    keep = int(keep)
    if keep < 1:
        return {"error": f"keep: a whole number >= 1, not {keep!r}"}
    root = _private_dir(directory)
    dqlite = _private_dir(root / "dqlite")
    incoming = pathlib.Path(__opts__["cachedir"]) / "minions"
    collected, sizes = [], {}
    for pushed in sorted(incoming.glob(f"*/files/{UPLOAD_DIR}/backup-*.tar.gz")):
        target = dqlite / pushed.name
        shutil.move(str(pushed), str(target))
        os.chmod(target, 0o600)
        collected.append(pushed.name)
        sizes[pushed.name] = target.stat().st_size
    master = _private_dir(root / "master")
    name = time.strftime("master-%Y-%m-%d-%H-%M-%S.tar.gz", time.gmtime())
    partial = master / f".{name}"
    pki_dir = os.path.abspath(__opts__["pki_dir"])
    secret = os.path.abspath(_join_secret_file())
    members = [(pki_dir, "pki")]
    if not secret.startswith(pki_dir + os.sep):  # else it is in pki/ already
        members.append((secret, "join.secret"))
    members.append((inventory or _inventory_file() or INVENTORY_SLS, INVENTORY_SLS))
    with tarfile.open(partial, "w:gz") as tar:
        for path, arcname in members:
            if os.path.exists(path):
                tar.add(path, arcname=arcname)
            else:
                log.warning("microk8s_backup: %s is missing, not in the master archive", path)
    os.chmod(partial, 0o600)
    os.replace(partial, master / name)
    removed = _prune(dqlite, "backup-*.tar.gz", keep) + _prune(master, "master-*.tar.gz", keep)
    return {"collected": collected, "sizes": sizes, "master": name, "removed": removed}


def latest(directory=DEFAULT_DIRECTORY):
    """
    Return the newest datastore archive, ``{"archive": path, "size": bytes}``, or
    ``{"error": "..."}`` when there is none.

    directory
        The backup directory on the master (default ``/srv/kubesalt/backups``).

    CLI Example:

    .. code-block:: bash

        salt-run microk8s_backup.latest
    """
    folder = pathlib.Path(directory) / "dqlite"
    archives = sorted(folder.glob("backup-*.tar.gz"))
    if not archives:
        return {
            "error": f"no datastore backup in {folder}: nothing to restore "
            "(salt-run state.orchestrate orch.backup makes one)"
        }
    return {"archive": str(archives[-1]), "size": archives[-1].stat().st_size}


REQUEST = "restore-request.json"


def request_restore(minion, archive, directory=DEFAULT_DIRECTORY):
    """
    Hand ``archive`` (under ``<directory>/dqlite``) to control plane ``minion``: until
    :func:`clear_restore`, that minion's pillar (pillar/cluster.sls) carries the archive as
    ``kubesalt_restore`` (base64), for ``microk8s.restore_from_pillar``. Pillar goes to that
    minion only, over its encrypted channel, and is not kept in the job cache. Meant for
    ``orch.restore``.

    minion
        The control plane's minion id.
    archive
        The archive's path (under ``<directory>/dqlite``).
    directory
        The backup directory on the master (default ``/srv/kubesalt/backups``).

    CLI Example:

    .. code-block:: bash

        salt-run microk8s_backup.request_restore cp1 /srv/kubesalt/backups/dqlite/b.tar.gz
    """
    root = pathlib.Path(directory)
    path = pathlib.Path(archive)
    if path.parent != root / "dqlite" or not path.is_file():
        return {"error": f"archive: not a backup under {root / 'dqlite'}: {archive}"}
    request = root / REQUEST
    partial = root / f".{REQUEST}"
    partial.write_text(json.dumps({"minion": minion, "archive": str(path)}) + "\n")
    os.chmod(partial, 0o600)
    os.replace(partial, request)
    return {"minion": minion, "archive": path.name}


def clear_restore(directory=DEFAULT_DIRECTORY):
    """
    Withdraw a restore request (the archive leaves the minion's pillar at its next refresh).

    directory
        The backup directory on the master (default ``/srv/kubesalt/backups``).

    CLI Example:

    .. code-block:: bash

        salt-run microk8s_backup.clear_restore
    """
    request = pathlib.Path(directory) / REQUEST
    existed = request.exists()
    if existed:
        request.unlink()
    return {"cleared": existed}
