"""``SimNode``: one simulated MicroK8s host, for tests and the lab."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from kubesalt.sim.microk8s import agent
from kubesalt.sim.microk8s.host import KNOB_DEFAULTS
from kubesalt.sim.microk8s.host import Host
from kubesalt.sim.microk8s.launcher import PACKAGE_PARENT
from kubesalt.sim.microk8s.snapcmd import install_launcher

# Knobs whose change starts/stops the agent (a fork): applied in a separate process, never
# in the caller's (possibly multi-threaded) process.
SIDE_EFFECT_KNOBS = {"stopped", "agent_unreachable"}


class SimNode:
    """A host rooted at ROOT presenting ADDRESS; nothing is started until ``install``.

    With ``owned`` (the default) the host's agent exits when the creating process ends, even
    by SIGKILL (its watchdog checks every 0.5 s), so a killed test run leaks no daemon.

    The ``snap`` launcher is written at construction (``ROOT/bin/snap``); ``microk8s``
    appears in ``ROOT/snap/bin`` once the snap is installed.
    """

    def __init__(self, root, address: str, hostname: str | None = None, owned: bool = True):
        self.root = Path(os.path.abspath(root))  # subprocesses run elsewhere (cwd, chdir /)
        self.address = address
        self.host = Host(self.root, address, hostname)
        self.hostname = self.host.hostname
        self.root.mkdir(parents=True, exist_ok=True)
        self.snap_path = install_launcher(self.host, self.hostname)
        # Owned (default): the node's daemons exit when this process does, however it ends.
        agent.set_owner(self.host, os.getpid() if owned else None)

    def __repr__(self) -> str:
        return f"SimNode({str(self.root)!r}, {self.address!r})"

    @property
    def bin_dirs(self) -> list[str]:
        return [str(self.snap_path.parent), str(self.root / "snap/bin")]

    def env(self, base: dict | None = None) -> dict:
        """A copy of BASE (default os.environ) with this host's bin directories first on PATH."""
        env = dict(os.environ if base is None else base)
        env["PATH"] = os.pathsep.join([*self.bin_dirs, env.get("PATH", "/usr/bin:/bin")])
        return env

    def run(self, argv, input: str | None = None, timeout: float = 60, cwd=None):
        """Run ARGV (e.g. ``["microk8s", "status"]``) on this host; text mode, never raises
        on a non-zero exit; a command not on this host's PATH gives exit 127 like a shell."""
        try:
            return subprocess.run(
                list(argv),
                input=input,
                capture_output=True,
                text=True,
                timeout=timeout,
                env=self.env(),
                cwd=cwd,
                stdin=None if input is not None else subprocess.DEVNULL,
                check=False,
            )
        except FileNotFoundError:
            return subprocess.CompletedProcess(
                list(argv), 127, "", f"{argv[0]}: command not found\n"
            )

    def install(self, channel: str = "1.32/stable"):
        """``snap install microk8s --classic --channel=CHANNEL``; raises on failure."""
        result = self.run(["snap", "install", "microk8s", "--classic", f"--channel={channel}"])
        if result.returncode != 0:
            raise RuntimeError(f"snap install failed on {self}: {result.stderr.strip()}")
        return result

    def set_knobs(self, **knobs) -> dict:
        """Set knobs (see ``kubesalt sim microk8s knob --help``); applies their side effects
        (agent stopped/started, stopped.lock) in a separate process."""
        unknown = set(knobs) - set(KNOB_DEFAULTS)
        if unknown:
            raise KeyError(f"unknown knob(s) {sorted(unknown)}; known: {sorted(KNOB_DEFAULTS)}")
        if not set(knobs) & SIDE_EFFECT_KNOBS:
            return self.host.update_knobs(**knobs)  # plain values: no process to start/stop
        pairs = [f"{key}={_knob_text(value)}" for key, value in knobs.items()]
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "kubesalt",
                "sim",
                "microk8s",
                "knob",
                "--root",
                str(self.root),
                "--address",
                self.address,
                "--hostname",
                self.hostname,
                *pairs,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=PACKAGE_PARENT,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"setting knobs failed: {result.stderr.strip()}")
        return json.loads(result.stdout)

    def knobs(self) -> dict:
        return self.host.knobs()

    def invocations(self) -> list[dict]:
        try:
            lines = self.host.invocation_log.read_text().splitlines()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in lines if line.strip()]

    def clear_invocations(self) -> None:
        try:
            self.host.invocation_log.unlink()
        except FileNotFoundError:
            pass

    def agent_running(self) -> bool:
        return agent.agent_pid(self.host) is not None

    def stop_daemons(self) -> None:
        """Kill this node's cluster agent (idempotent)."""
        agent.stop_agent(self.host)

    def read(self, rel: str) -> str:
        return (self.root / rel).read_text()


def _knob_text(value) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)
