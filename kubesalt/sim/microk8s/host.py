"""One simulated host: its root directory, its identity and the files MicroK8s keeps there.

Everything lives under ROOT with the real layout (ROOT may be ``/`` inside a lab host):

- ``ROOT/snap/microk8s/<rev>`` ($SNAP), ``ROOT/var/snap/microk8s/<rev>`` ($SNAP_DATA), each with
  a ``current`` symlink, and ``ROOT/var/snap/microk8s/common`` ($SNAP_COMMON);
- ``ROOT/var/lib/kubesalt-sim/microk8s/``: what only the simulator needs and what survives
  ``snap remove`` (snap metadata, knobs, the invocation log, the agent's pidfile and log).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

from kubesalt.sim.microk8s import catalog

SIM_DIR = "var/lib/kubesalt-sim/microk8s"
KNOB_DEFAULTS = {
    "join_seconds": 1.0,  # how long a join takes on the joining node
    "fail_joins": 0,  # the next K join requests this node serves fail after the token check
    "agent_unreachable": False,  # the cluster agent refuses connections
    "stopped": False,  # the node is stopped (as after `microk8s stop`)
    "ready_seconds": 0.0,  # the node reports not-ready this long after (re)start or join
    "refresh_seconds": 0.0,  # how long `snap refresh` takes (services down meanwhile)
    "fail_refreshes": 0,  # the next K refreshes fail (snapd's download error), nothing changes
    "lost_after_refresh": False,  # after a refresh the services never come back
}


def default_ip() -> str:
    """The IPv4 of the default-route interface, like MicroK8s' ``get_default_ip``."""
    iface = None
    with contextlib.suppress(OSError), open("/proc/net/route", encoding="ascii") as routes:
        for line in routes.readlines()[1:]:
            fields = line.split()
            if len(fields) > 1 and fields[1] == "00000000":
                iface = fields[0]
                break
    if iface is None:
        return "none"
    try:
        out = subprocess.run(
            ["ip", "-o", "-4", "addr", "list", iface],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "none"
    for line in out.splitlines():
        fields = line.split()
        if "inet" in fields:
            return fields[fields.index("inet") + 1].split("/")[0]
    return "none"


def host_name_for(root: Path, address: str) -> str:
    """The node's hostname: the real one on ROOT=/, else one derived from its address."""
    if str(root) == "/":
        return socket.gethostname().lower()
    return "node-" + address.replace(".", "-").replace(":", "-")


# Upstream's default-args/cluster-agent: `--bind 0.0.0.0:25000` (in the host's own namespace).
ALL_INTERFACES = "0.0.0.0"  # noqa: S104


class Host:
    """Paths and file-backed state of one simulated host."""

    def __init__(self, root, address: str, hostname: str | None = None):
        # Absolute from here on: the cluster agent chdirs to / and a relative root would then
        # name a directory of the machine's own root.
        self.root = Path(os.path.abspath(root))
        self.address = address
        self.hostname = (hostname or host_name_for(self.root, address)).lower()

    # ----- paths
    def path(self, rel: str) -> Path:
        return self.root / rel

    @property
    def sim_dir(self) -> Path:
        return self.path(SIM_DIR)

    @property
    def snap_bin(self) -> Path:
        return self.path("snap/bin")

    @property
    def snap_meta_file(self) -> Path:
        return self.sim_dir / "snap.json"

    def snap_meta(self) -> dict | None:
        try:
            return json.loads(self.snap_meta_file.read_text())
        except (OSError, ValueError):
            return None

    @property
    def revision(self) -> str:
        meta = self.snap_meta() or {}
        return meta.get("revision", "current")

    @property
    def snap(self) -> Path:
        return self.path(f"snap/microk8s/{self.revision}")

    @property
    def snap_data(self) -> Path:
        """$SNAP_DATA with the revision number, as Python scripts print it."""
        return self.path(f"var/snap/microk8s/{self.revision}")

    @property
    def data(self) -> Path:
        """$SNAP_DATA through the ``current`` symlink."""
        return self.path("var/snap/microk8s/current")

    @property
    def common(self) -> Path:
        return self.path("var/snap/microk8s/common")

    @property
    def lock_dir(self) -> Path:
        return self.data / "var/lock"

    @property
    def certs(self) -> Path:
        return self.data / "certs"

    @property
    def credentials(self) -> Path:
        return self.data / "credentials"

    @property
    def state_file(self) -> Path:
        return self.data / "var/kubernetes/backend/sim-state.json"

    def installed(self) -> bool:
        return self.snap_meta() is not None and self.data.exists()

    # ----- locks
    def has_lock(self, name: str) -> bool:
        return (self.lock_dir / name).exists()

    def set_lock(self, name: str, present: bool = True) -> None:
        lock = self.lock_dir / name
        if present:
            lock.parent.mkdir(parents=True, exist_ok=True)
            lock.touch()
        else:
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()

    def is_worker(self) -> bool:
        return self.has_lock("clustered.lock")

    def is_stopped(self) -> bool:
        return self.has_lock("stopped.lock")

    # ----- identity (written with the snap launcher, read by `kubesalt sim microk8s knob`)
    def save_identity(self, hostname: str | None, bind_from_args: bool = False) -> None:
        """``bind_from_args``: the host was installed without ``--address`` (a machine of its
        own, as the snap is installed): the cluster agent binds where its arguments say."""
        identity = {"address": self.address, "hostname": hostname}
        if bind_from_args:
            identity["agent_bind"] = "args"
        write_file(self.sim_dir / "node.json", json.dumps(identity) + "\n")

    def binds_from_args(self) -> bool:
        """Installed without ``--address`` (:meth:`save_identity`): a machine of its own,
        whose sockets bind and connect as the kernel's routes choose."""
        try:
            identity = json.loads((self.sim_dir / "node.json").read_text())
        except (OSError, ValueError):
            return False
        return identity.get("agent_bind") == "args"

    def agent_bind_address(self) -> str:
        """Where the cluster agent listens. Upstream's ``args/cluster-agent`` says
        ``--bind 0.0.0.0:25000`` (every interface): a host installed without ``--address``
        binds as its arguments say; a host given an address (several simulated nodes sharing
        one network namespace, as the unit and sim tiers run them) binds that address."""
        if not self.binds_from_args():
            return self.address
        with contextlib.suppress(OSError):
            for line in (self.data / "args/cluster-agent").read_text().splitlines():
                flag, _, value = line.strip().replace("=", " ", 1).partition(" ")
                if flag == "--bind" and value.strip():
                    return value.strip().strip('"').rpartition(":")[0] or ALL_INTERFACES
        return ALL_INTERFACES

    @classmethod
    def from_root(cls, root, address: str | None = None, hostname: str | None = None):
        try:
            identity = json.loads((Path(root) / SIM_DIR / "node.json").read_text())
        except (OSError, ValueError):
            identity = {}
        address = address or identity.get("address")
        if not address:
            raise ValueError(f"no address known for the host at {root}; pass --address")
        return cls(root, address, hostname or identity.get("hostname"))

    def set_active(self, active: bool) -> None:
        """Snap services enabled/active (``snap start|stop``, ``microk8s start|stop``)."""
        meta = self.snap_meta() or {}
        meta["active"] = active
        write_file(self.snap_meta_file, json.dumps(meta, indent=1) + "\n")

    # ----- knobs
    @property
    def knob_file(self) -> Path:
        return self.sim_dir / "knobs.json"

    def knobs(self) -> dict:
        values = dict(KNOB_DEFAULTS)
        with contextlib.suppress(OSError, ValueError):
            values.update(json.loads(self.knob_file.read_text()))
        return values

    def update_knobs(self, **changes) -> dict:
        with self.exclusive("knobs"):
            values = self.knobs()
            for key, value in changes.items():
                if key not in KNOB_DEFAULTS:
                    raise KeyError(f"unknown knob {key!r}; known: {', '.join(KNOB_DEFAULTS)}")
                values[key] = knob_value(KNOB_DEFAULTS[key], value)
            write_file(self.knob_file, json.dumps(values, indent=1, sort_keys=True) + "\n")
        return values

    def take_refresh_failure(self) -> bool:
        """Consume one ``fail_refreshes`` count; True when this refresh must fail."""
        with self.exclusive("knobs"):
            values = self.knobs()
            if values["fail_refreshes"] <= 0:
                return False
            values["fail_refreshes"] -= 1
            write_file(self.knob_file, json.dumps(values, indent=1, sort_keys=True) + "\n")
            return True

    def take_join_failure(self) -> bool:
        """Consume one ``fail_joins`` count; True when this join must fail."""
        with self.exclusive("knobs"):
            values = self.knobs()
            if values["fail_joins"] <= 0:
                return False
            values["fail_joins"] -= 1
            write_file(self.knob_file, json.dumps(values, indent=1, sort_keys=True) + "\n")
            return True

    # ----- invocation log
    @property
    def invocation_log(self) -> Path:
        return self.sim_dir / "invocations.jsonl"

    def log_invocation(self, argv: list, exit_code: int, started: float, ended: float) -> None:
        record = {
            "argv": list(argv),
            "exit_code": exit_code,
            "duration": round(ended - started, 6),
            "time": started,
        }
        self.sim_dir.mkdir(parents=True, exist_ok=True)
        # One short O_APPEND write per line: concurrent writers do not interleave.
        with open(self.invocation_log, "a", encoding="utf-8") as log:
            log.write(json.dumps(record) + "\n")

    # ----- cross-process serialisation
    @contextlib.contextmanager
    def exclusive(self, name: str):
        self.sim_dir.mkdir(parents=True, exist_ok=True)
        with open(self.sim_dir / f".{name}.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # ----- cluster state (what dqlite and the Kubernetes API hold, as this node sees them)
    def load_state(self) -> dict | None:
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return None

    def save_state(self, state: dict) -> None:
        write_file(self.state_file, json.dumps(state, indent=1, sort_keys=True) + "\n", 0o600)

    def fresh_state(self, addons=catalog.DEFAULT_K8S_ADDONS) -> dict:
        """A single-node datastore: this node alone, dqlite bound to loopback."""
        return {
            "cluster_id": secrets.token_hex(8),
            "generation": 1,
            "callback_token": secrets.token_hex(16),
            "members": [{"address": f"127.0.0.1:{catalog.DQLITE_PORT}", "hostname": self.hostname}],
            "nodes": [self.node_record("control-plane")],
            "addons": sorted(a if "/" in a else f"core/{a}" for a in addons),
        }

    def node_ip(self) -> str:
        """The kubelet's ``--node-ip`` if set, else the node's address (the default-route
        interface's unless the simulator was told another), as the kubelet picks it."""
        with contextlib.suppress(OSError):
            for line in (self.data / "args/kubelet").read_text().splitlines():
                if line.startswith("--node-ip="):
                    return line.split("=", 1)[1].strip()
        return self.address

    def node_record(self, role: str) -> dict:
        meta = self.snap_meta() or {}
        return {
            "name": self.hostname,
            "address": self.node_ip(),
            "role": role,
            "created": time.time(),
            "version": meta.get("version", ""),
        }

    def own_member_address(self, state: dict) -> str | None:
        for member in state.get("members", []):
            if member.get("hostname") == self.hostname or member["address"].startswith(
                f"{self.address}:"
            ):
                return member["address"]
        return None

    def ready_since(self) -> float:
        try:
            return (self.sim_dir / "started").stat().st_mtime
        except OSError:
            return 0.0

    def mark_started(self) -> None:
        write_file(self.sim_dir / "started", "")
        os.utime(self.sim_dir / "started")

    def is_ready(self) -> bool:
        """What ``status`` calls ready: services up and the ready delay elapsed."""
        if self.is_stopped() or (self.snap_meta() or {}).get("lost"):
            return False
        delay = float(self.knobs()["ready_seconds"])
        return time.time() >= self.ready_since() + delay

    def purge(self) -> None:
        for rel in ("var/snap/microk8s", "snap/microk8s"):
            shutil.rmtree(self.path(rel), ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            (self.snap_bin / "microk8s").unlink()
        for alias in self.snap_bin.glob("microk8s.*") if self.snap_bin.exists() else ():
            alias.unlink()
        with contextlib.suppress(FileNotFoundError):
            self.snap_meta_file.unlink()


def knob_value(default, value):
    """Coerce VALUE (often a string from the command line) to the type of DEFAULT."""
    if isinstance(default, bool):
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError(f"not a boolean: {value!r}")
            return lowered in ("1", "true", "yes", "on")
        return bool(value)
    return type(default)(value)


def roles_of(members: list) -> list:
    """dqlite roles by position, as go-dqlite's automatic role management settles them
    (``RolesChanges.Adjust``, 3 voters and 3 stand-bys wanted): below 3 members there is a
    single voter and the others are spares (so a 2-member cluster is one voter + one spare,
    the case ``leave`` refuses with exit 3); from 3 members, 3 voters, then up to 3 stand-bys,
    then spares."""
    if len(members) < 3:
        return [(m["address"], "voter" if i == 0 else "spare") for i, m in enumerate(members)]
    roles = []
    for index, member in enumerate(members):
        role = "voter" if index < 3 else "standby" if index < 6 else "spare"
        roles.append((member["address"], role))
    return roles


def write_file(path: Path, text: str, mode: int | None = None) -> None:
    """Write TEXT atomically (temp file + rename), creating parent directories."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
    if mode is not None:
        os.chmod(tmp, mode)
    os.replace(tmp, path)
