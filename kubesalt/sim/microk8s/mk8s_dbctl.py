"""``microk8s dbctl``: backup and restore of the Kubernetes datastore.

As upstream (``microk8s-resources/wrappers/microk8s-dbctl.wrapper``,
``scripts/wrappers/dbctl.py``): a worker is refused (``is_cluster_locked``: exit 1), then
without the kine socket (services down) or without HA ``Please ensure the kubernetes
apiserver is running and HA is enabled.`` exit 10, then argparse. ``backup [-o NAME]`` prints
``Backing up the datastore``, writes ``NAME.tar.gz`` (``.tar.gz`` added unless given; default
``backup-%Y-%m-%d-%H-%M-%S`` in local time, relative to the working directory) holding one
directory named like the archive, and prints ``The backup is: NAME.tar.gz``. ``restore FILE``
prints ``Restoring from FILE`` and loads the archive into the datastore; a missing or broken
archive ends in Python's traceback (exit 1), as upstream's unguarded ``tarfile.open``.

What the simulated migrator writes inside that directory is ``kine.json``: the Kubernetes
objects of the cluster state (upstream's migrator writes its own key/value dump); a restore
puts every object of the archive back into the datastore (existing ones are overwritten,
others kept), as ``migrator --mode restore-to-dqlite`` writes every key of the dump.
"""

from __future__ import annotations

import datetime
import io
import json
import os
import sys
import tarfile
import tempfile

from kubesalt.sim.microk8s import agent
from kubesalt.sim.microk8s import catalog
from kubesalt.sim.microk8s.host import Host
from kubesalt.sim.microk8s.mk8s_common import out
from kubesalt.sim.microk8s.mk8s_common import services_active
from kubesalt.sim.microk8s.mk8s_common import state_of
from kubesalt.sim.microk8s.mk8s_common import worker_guard

# What lives in kine (the Kubernetes objects); dqlite membership and the agent's own
# bookkeeping are not in the dump.
KINE_KEYS = ("namespaces", "secrets", "pods", "pdbs", "nodes", "addons")
USAGE = "usage: microk8s dbctl [-h] [--debug] {restore,backup} ..."
KINE_MISSING = "Please ensure the kubernetes apiserver is running and HA is enabled."


def _kine_exists(host: Host) -> bool:
    return services_active(host) and not host.is_stopped() and agent.agent_pid(host) is not None


def cmd_dbctl(host: Host, args: list) -> int:
    worker_guard(host, catalog.WORKER_PREFIX, "Please use the master node.", code=1)
    if not _kine_exists(host) or not host.has_lock("ha-cluster"):
        out(KINE_MISSING)
        return 10
    words = [a for a in args if a != "--debug"]
    if not words or words[0] in ("-h", "--help"):
        out(USAGE)
        return 0
    if words[0] == "backup":
        name = None
        rest = words[1:]
        if rest[:1] == ["-o"] and len(rest) >= 2:
            name = rest[1]
        elif rest:
            print(USAGE, file=sys.stderr)
            print(
                f"microk8s dbctl: error: unrecognized arguments: {' '.join(rest)}",
                file=sys.stderr,
            )
            return 2
        out("Backing up the datastore")
        return backup(host, name)
    if words[0] == "restore":
        if len(words) != 2:
            print(USAGE, file=sys.stderr)
            print(
                "microk8s dbctl restore: error: the following arguments are required: backup-file",
                file=sys.stderr,
            )
            return 2
        out(f"Restoring from {words[1]}")
        return restore(host, words[1])
    print(USAGE, file=sys.stderr)
    print(
        f"microk8s dbctl: error: argument command: invalid choice: '{words[0]}' "
        "(choose from 'restore', 'backup')",
        file=sys.stderr,
    )
    return 2


def backup(host: Host, name: str | None) -> int:
    if not name:
        name = "backup-" + datetime.datetime.now().strftime("%Y-%m-%d-%H-%M-%S")
    name = name.removesuffix(".tar.gz")
    archive = f"{name}.tar.gz"
    state = state_of(host)
    dump = {key: state.get(key) for key in KINE_KEYS if key in state}
    payload = json.dumps(dump, indent=1, sort_keys=True).encode()
    inner = os.path.basename(name)
    with tarfile.open(archive, "w:gz") as tar:
        folder = tarfile.TarInfo(inner)
        folder.type = tarfile.DIRTYPE
        folder.mode = 0o700
        tar.addfile(folder)
        member = tarfile.TarInfo(f"{inner}/kine.json")
        member.size = len(payload)
        member.mode = 0o600
        tar.addfile(member, io.BytesIO(payload))
    out(f"The backup is: {archive}")
    return 0


def restore(host: Host, archive: str) -> int:
    try:
        with tempfile.TemporaryDirectory() as scratch:
            with tarfile.open(archive, "r:gz") as tar:
                tar.extractall(scratch, filter="data")
            inner = os.path.basename(archive.removesuffix(".tar.gz"))
            with open(os.path.join(scratch, inner, "kine.json"), encoding="utf-8") as handle:
                dump = json.load(handle)
    except (OSError, tarfile.TarError, ValueError) as exc:
        print("Traceback (most recent call last):", file=sys.stderr)
        print(
            '  File "/snap/microk8s/current/scripts/wrappers/dbctl.py", line 180, in <module>',
            file=sys.stderr,
        )
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1

    def load(state: dict) -> None:
        for key in ("namespaces", "secrets", "pods", "pdbs"):
            if isinstance(dump.get(key), dict):
                state.setdefault(key, {}).update(dump[key])
        present = {node["name"] for node in state.get("nodes", [])}
        for node in dump.get("nodes") or []:
            if node.get("name") not in present:
                state.setdefault("nodes", []).append(node)
        state["addons"] = sorted(set(state.get("addons", [])) | set(dump.get("addons") or []))

    agent.mutate(host, load)
    return 0
