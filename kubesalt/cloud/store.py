"""The lab cloud's API state: one JSON document under the cloud's directory, behind a lock.

Terraform runs up to ten operations at once in one provider process, and a ``plan`` may run
while a neighbour reads: every change is a read-modify-write under ``flock`` (processes) and a
thread lock (the provider's gRPC threads). The document is replaced atomically.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pathlib
import threading

_THREAD_LOCK = threading.RLock()
TABLES = (
    "networks",
    "subnets",
    "ports",
    "routers",
    "router_interfaces",
    "security_groups",
    "security_group_rules",
    "floating_ips",
    "volumes",
    "servers",
    "images",
    # Octavia (kubesalt.cloud.octavia)
    "loadbalancers",
    "listeners",
    "pools",
    "members",
    "monitors",
    "server_groups",
)


class Store:
    def __init__(self, directory: str | os.PathLike):
        self.directory = pathlib.Path(directory)
        self.path = self.directory / "cloud.json"

    def exists(self) -> bool:
        return self.path.is_file()

    def read(self) -> dict:
        with self._locked():
            return self._load()

    @contextlib.contextmanager
    def transaction(self):
        """Yield the document; it is written back when the block ends without an error."""
        with self._locked():
            document = self._load()
            yield document
            # What the lab's backing (kubesalt.cloud.instances) watches to reconcile.
            document["generation"] = document.get("generation", 0) + 1
            tmp = self.path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(document, handle, indent=1, sort_keys=True)
            os.replace(tmp, self.path)

    @contextlib.contextmanager
    def _locked(self):
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        with _THREAD_LOCK, open(self.directory / "cloud.lock", "a", encoding="utf-8") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _load(self) -> dict:
        if not self.path.is_file():
            document = {}
        else:
            with open(self.path, encoding="utf-8") as handle:
                document = json.load(handle)
        for table in TABLES:
            document.setdefault(table, {})
        return document
