"""One simulated MAAS host: its file layout, baked-in settings, fault knobs and daemons.

A host is a directory ``root`` standing for ``/`` of the machine (``/`` itself inside a lab
host): the snap paths live under it (``var/snap/maas/...``), the generated
``usr/local/bin/maas`` and ``usr/local/bin/maas-rack`` launchers carry ``root`` baked in,
and ``var/lib/kubesalt-sim-maas/`` holds ``host.json`` (the settings given to ``kubesalt
sim maas install``: MAAS version, address, hostname, timings) and ``faults.json`` (the
fault knobs).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

VERSIONS = {"2.9": "2.9.2", "3.4": "3.4.6", "3.7": "3.7.3"}
DEFAULTS = {
    "version": "3.7",
    "address": "127.0.5.2",
    "hostname": "maas",
    "port": 5240,
    # Timings, in seconds (small, so tests are fast; a real MAAS is much slower).
    "import_start_delay": 0.3,  # before is_importing turns true (the documented race)
    "import_seconds": 1.5,  # download time of one image set
    "rack_sync_seconds": 0.5,  # a rack copying images from the region (<= 3.4)
    "rack_sync_interval": 30.0,  # periodic rack sync without a nudge
    "rack_heartbeat": 0.3,
    "rack_dead_after": 3.0,  # rackd marked dead after this long without a heartbeat
    "auto_import_on_start": True,
    # Machines (kubesalt/sim/maas/machines.py): seconds each step takes, and how long the
    # region waits for a machine that never reports (MAAS's node_timeout, 30 min, scaled).
    "commission_seconds": 1.0,
    "deploy_seconds": 2.0,
    "release_seconds": 0.5,
    "node_timeout": 1800.0,
}
FAULT_KEYS = {
    "api_503": "answer the next N API requests with 503 (int)",
    "import_seconds": "override the download time of one image set (float)",
    "import_stuck": "the import stops making progress and never ends (bool)",
    "rack_silent": "this host's rackd stops sending heartbeats: it goes dead (bool)",
    "wrong_secret": "this host's rackd signs with a wrong shared secret (bool)",
    "deploy_seconds": "override how long a deployment takes (float)",
    "commission_seconds": "override how long commissioning takes (float)",
    "deploy_fails": "deployments started from now on fail: Failed deployment (bool)",
    "machine_silent": "machines started from now on never report: the step times out after "
    "node_timeout (bool)",
    "node_timeout": "override the seconds after which a silent machine's step fails (float)",
}


class Host:
    def __init__(self, root):
        self.root = Path(root).resolve()

    # -- paths (snap layout) --------------------------------------------------------------
    def path(self, *parts) -> Path:
        return self.root.joinpath(*parts)

    @property
    def snap_data(self) -> Path:
        return self.path("var", "snap", "maas", "current")

    @property
    def snap_common(self) -> Path:
        return self.path("var", "snap", "maas", "common")

    @property
    def regiond_conf(self) -> Path:
        return self.snap_data / "regiond.conf"

    @property
    def rackd_conf(self) -> Path:
        return self.snap_data / "rackd.conf"

    @property
    def secret_file(self) -> Path:
        return self.snap_common / "maas" / "secret"

    @property
    def maas_id_file(self) -> Path:
        return self.snap_common / "maas" / "maas_id"

    @property
    def snap_mode_file(self) -> Path:
        return self.snap_common / "snap_mode"

    @property
    def profiles_file(self) -> Path:
        return self.path("root", ".maascli.db")

    @property
    def bin_dir(self) -> Path:
        return self.path("usr", "local", "bin")

    @property
    def sim_dir(self) -> Path:
        return self.path("var", "lib", "kubesalt-sim-maas")

    def pidfile(self, daemon: str) -> Path:
        return self.path("run", f"{daemon}.pid")

    def logfile(self, daemon: str) -> Path:
        return self.snap_common / "log" / f"{daemon}.log"

    # -- settings ---------------------------------------------------------------------------
    def settings(self) -> dict:
        data = dict(DEFAULTS)
        try:
            data.update(json.loads((self.sim_dir / "host.json").read_text()))
        except FileNotFoundError:
            pass
        return data

    @property
    def version(self) -> str:
        return VERSIONS[self.settings()["version"]]

    def faults(self) -> dict:
        try:
            return json.loads((self.sim_dir / "faults.json").read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def set_faults(self, **knobs) -> dict:
        faults = self.faults()
        for key, value in knobs.items():
            if value is None:
                faults.pop(key, None)
            else:
                faults[key] = value
        write_file(self.sim_dir / "faults.json", json.dumps(faults), 0o644)
        return faults

    def snap_mode(self) -> str:
        try:
            return self.snap_mode_file.read_text().strip() or "none"
        except FileNotFoundError:
            return "none"

    def read_secret(self) -> str | None:
        try:
            return self.secret_file.read_text().strip() or None
        except FileNotFoundError:
            return None

    # -- daemons ----------------------------------------------------------------------------
    def daemon_pid(self, daemon: str) -> int | None:
        try:
            pid = int(self.pidfile(daemon).read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _alive(pid) else None

    def start_daemon(self, daemon: str) -> int:
        """Double-fork ``python -m kubesalt.sim.maas.<daemon> ROOT``; wait for its pidfile."""
        self.stop_daemon(daemon)
        pidfile = self.pidfile(daemon)
        pidfile.parent.mkdir(parents=True, exist_ok=True)
        log = self.logfile(daemon)
        log.parent.mkdir(parents=True, exist_ok=True)
        first = os.fork()
        if first == 0:  # child: new session, fork again, exec the daemon
            try:
                os.setsid()
                if os.fork():
                    os._exit(0)
                fd_in = os.open(os.devnull, os.O_RDONLY)
                fd_out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                os.dup2(fd_in, 0)
                os.dup2(fd_out, 1)
                os.dup2(fd_out, 2)
                pidfile.write_text(str(os.getpid()))
                env = dict(os.environ)
                repo = str(Path(__file__).resolve().parents[3])
                env["PYTHONPATH"] = repo + os.pathsep + env.get("PYTHONPATH", "")
                os.execve(  # noqa: S606 (argv list, no shell)
                    sys.executable,
                    [sys.executable, "-m", f"kubesalt.sim.maas.{daemon}", str(self.root)],
                    env,
                )
            finally:
                os._exit(127)
        os.waitpid(first, 0)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            pid = self.daemon_pid(daemon)
            if pid:
                return pid
            time.sleep(0.02)
        raise RuntimeError(f"{daemon} did not start (see {log})")

    def stop_daemon(self, daemon: str, timeout: float = 5.0) -> bool:
        pid = self.daemon_pid(daemon)
        if not pid:
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _alive(pid):
                break
            time.sleep(0.02)
        else:
            os.kill(pid, signal.SIGKILL)
        self.pidfile(daemon).unlink(missing_ok=True)
        return True

    def stop_all(self) -> None:
        for daemon in ("rackd", "regiond"):
            self.stop_daemon(daemon)


def _alive(pid: int) -> bool:
    """Running (a zombie whose parent has not reaped it yet counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError, ProcessLookupError):
        return False


def write_file(path: Path, text: str, mode: int) -> None:
    """Write atomically with ``mode`` from the start (secrets are never world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def launcher(root: Path, entry: str) -> str:
    repo = Path(__file__).resolve().parents[3]
    return (
        f"#!{sys.executable}\n"
        f"# Generated by 'kubesalt sim maas install': the simulated {entry} of host {root}.\n"
        "import sys\n"
        f"sys.path.insert(0, {str(repo)!r})\n"
        "from kubesalt.sim.maas.snapcli import main\n"
        f"sys.exit(main({entry!r}, {str(root)!r}, sys.argv[1:]))\n"
    )


def install(root, **settings) -> Host:
    """Create a host: its settings and the ``maas``, ``maas-rack`` launchers in ``bin_dir``."""
    host = Host(root)
    unknown = set(settings) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown host settings: {', '.join(sorted(unknown))}")
    if (settings.get("version") or DEFAULTS["version"]) not in VERSIONS:
        raise ValueError(f"version must be one of {', '.join(VERSIONS)}")
    current = host.settings()
    current.update({k: v for k, v in settings.items() if v is not None})
    write_file(host.sim_dir / "host.json", json.dumps(current, indent=1), 0o644)
    for entry in ("maas", "maas-rack"):
        write_file(host.bin_dir / entry, launcher(host.root, entry), 0o755)
    return host
