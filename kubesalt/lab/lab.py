"""The lab: isolated hosts on this machine, with Salt in them (Python API of ``kubesalt lab``).

Usage::

    with Lab(state_dir) as lab:          # __exit__ always tears the lab down
        lab.up(workers=2, control_planes=1, domain="lab.kubesalt.test")
        lab.exec("k8s-worker-0", ["ip", "-o", "addr"])
        lab.salt(["*", "test.ping"])

``up`` starts a detached supervisor (:mod:`kubesalt.lab.supervisor`) that owns every
namespace, wires the network from inside the lab's own namespaces, starts Salt through the
hosts' init scripts and accepts each expected minion key explicitly. ``down`` stops the
supervisor; everything else dies with it.

The rooms: :mod:`~kubesalt.lab.machine` (what the lab needs of this machine, where things
are), :mod:`~kubesalt.lab.statefiles` (the lock, ``lab.json``, ``pids.json``),
:mod:`~kubesalt.lab.processes`, :mod:`~kubesalt.lab.nsenter` (a command in a host),
:mod:`~kubesalt.lab.image` (what a host is made of, its user-data),
:mod:`~kubesalt.lab.launcher` (the supervisor), :mod:`~kubesalt.lab.wiring` (the network),
:mod:`~kubesalt.lab.installs` (Salt as packaged, the simulators), :mod:`~kubesalt.lab.minions`
(keys and pings), :mod:`~kubesalt.lab.cloudinit` (booting user-data).
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import time

from kubesalt.lab import cloudinit
from kubesalt.lab import dns
from kubesalt.lab import image
from kubesalt.lab import installs
from kubesalt.lab import launcher
from kubesalt.lab import minions
from kubesalt.lab import processes
from kubesalt.lab import statefiles
from kubesalt.lab import topology
from kubesalt.lab import wiring
from kubesalt.lab.cloudinit import CLOUD_INIT_TIMEOUT
from kubesalt.lab.image import image_spec
from kubesalt.lab.image import packaged_salt_script
from kubesalt.lab.installs import MAAS_PG_DIR
from kubesalt.lab.machine import LabError
from kubesalt.lab.machine import lock_path_default
from kubesalt.lab.machine import machine_paths_hidden_in_hosts
from kubesalt.lab.machine import repo_root
from kubesalt.lab.machine import requirements_problem
from kubesalt.lab.machine import salt_bin_dir
from kubesalt.lab.machine import state_dir_default
from kubesalt.lab.minions import PING_TIMEOUT
from kubesalt.lab.nsenter import host_command
from kubesalt.lab.nsenter import switch_command
from kubesalt.lab.statefiles import running_lab
from kubesalt.lab.topology import Host

# The lab's API as its callers (the CLI, the lab cloud, tests) import it from here.
__all__ = [
    "BOOT_MODES",
    "CLOUD_INIT_TIMEOUT",
    "MAAS_PG_DIR",
    "Lab",
    "LabError",
    "host_command",
    "image_spec",
    "machine_paths_hidden_in_hosts",
    "packaged_salt_script",
    "repo_root",
    "requirements_problem",
    "running_lab",
    "salt_bin_dir",
    "state_dir_default",
]

COMMAND_TIMEOUT = 120.0
BOOT_MODES = ("salt", "cloud-init")


class Lab:
    """One lab on this machine; its state lives under ``state_dir``."""

    def __init__(
        self,
        state_dir: str | os.PathLike | None = None,
        lock_path: str | None = None,
        *,
        die_with_caller: bool = False,
    ):
        """``die_with_caller``: the lab dies with the thread calling ``up`` (tests: a
        killed test run leaves nothing behind; call ``up`` from the main thread, since the
        kernel ties PR_SET_PDEATHSIG to the forking thread). By default the lab outlives
        its caller (the CLI)."""
        # Absolute: the supervisor runs from / and is recognised by this path.
        self.state_dir = pathlib.Path(state_dir or state_dir_default()).absolute()
        self.lock_path = pathlib.Path(lock_path or lock_path_default())
        self.die_with_caller = die_with_caller
        self._lock_fd: int | None = None

    # ------------------------------------------------------------------ context manager
    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc) -> None:
        self.down()

    # ------------------------------------------------------------------ state files
    def info(self) -> dict | None:
        """What ``up`` recorded: domain, hosts (with addresses and roles), timings."""
        return statefiles.read_json(self.state_dir / statefiles.LAB_FILE)

    def hosts(self) -> list[Host]:
        info = self.info()
        if not info:
            raise LabError(f"no lab in {self.state_dir}: run `kubesalt lab up` first")
        return statefiles.hosts_from_info(info)

    def _pids(self) -> dict | None:
        pids = statefiles.read_json(self.state_dir / statefiles.PIDS_FILE)
        if not pids:
            return None
        supervisor = pids.get("supervisor")
        if not supervisor or processes.start_time(supervisor) != pids.get("supervisor_start"):
            return None
        return pids

    def is_up(self) -> bool:
        pids = self._pids()
        return bool(pids) and processes.alive(pids["supervisor"])

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # ------------------------------------------------------------------ running commands
    def host_pid(self, host: str) -> int:
        pids = self._pids()
        if not pids or not processes.alive(pids["supervisor"]):
            raise LabError(f"no lab is up (state dir {self.state_dir}): run `kubesalt lab up`")
        short = host.split(".", 1)[0]
        if short not in pids["hosts"]:
            known = ", ".join(sorted(pids["hosts"]))
            raise LabError(f"no host {host!r} in the lab (hosts: {known})")
        return pids["hosts"][short]

    def exec(
        self,
        host: str,
        argv: list[str],
        *,
        check: bool = False,
        timeout: float | None = COMMAND_TIMEOUT,
        input: str | None = None,
        capture: bool = True,
        env: dict | None = None,
    ) -> subprocess.CompletedProcess:
        """Run ``argv`` as root in ``host`` (its short name); return the completed process.

        With ``check`` a non-zero exit raises :class:`LabError` with the command's output.
        """
        if not argv:
            raise LabError("nothing to run: give a command after --")
        command = host_command(self.host_pid(host), list(argv), env)
        try:
            result = subprocess.run(
                command,
                check=False,
                input=input,
                capture_output=capture,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            raise LabError(f"{host}: {' '.join(argv)} did not finish in {timeout} s") from exc
        if check and result.returncode != 0:
            output = ((result.stderr or "") + (result.stdout or "")).strip()
            raise LabError(
                f"{host}: {' '.join(argv)} failed with exit code {result.returncode}: "
                f"{output[-2000:]}"
            )
        return result

    def spawn(self, host: str, argv: list[str], **popen_kwargs) -> subprocess.Popen:
        """Start ``argv`` in ``host`` without waiting (e.g. a test server); the caller
        waits for it. It dies with the lab at the latest."""
        if not argv:
            raise LabError("nothing to run: give a command")
        return subprocess.Popen(host_command(self.host_pid(host), list(argv)), **popen_kwargs)

    def salt(self, args: list[str], **kwargs) -> subprocess.CompletedProcess:
        """Run ``salt ARGS...`` on the master host."""
        return self.exec("salt", ["salt", *args], **kwargs)

    def switch(self, argv: list[str], input: str | None = None) -> None:
        """Run ``argv`` in the network namespace of the lab's switch; raise on failure."""
        command = switch_command(self._pids()["switch"], argv)
        result = subprocess.run(
            command, check=False, input=input, capture_output=True, text=True, timeout=30
        )
        if result.returncode != 0:
            raise LabError(f"switch: {' '.join(argv)} failed: {result.stderr.strip()}")

    # ------------------------------------------------------------------ up
    def up(
        self,
        workers: int = 2,
        control_planes: int = 1,
        domain: str = topology.DEFAULT_DOMAIN,
        *,
        progress=None,
        lock_wait: float = 0.0,
        salt: bool = True,
        boot: str = "salt",
        maas: bool = False,
        bare_metal: int = 0,
    ) -> dict:
        """Bring the lab up; on any failure or Ctrl-C tear everything down and re-raise.

        Returns what ``info()`` returns. ``salt=False`` builds hosts and network only.
        ``boot``: ``salt`` (the lab configures Salt and accepts each key itself) or
        ``cloud-init`` (each host boots from the user-data Terraform renders, through real
        cloud-init and a NoCloud seed, exactly like an OpenStack VM: docs/terraform.md).
        ``maas``: add the MAAS hosts (``maas-region`` with its PostgreSQL, ``maas-rack-0/1``)
        with the MAAS simulator installed (docs/maas.md). ``bare_metal``: that many machines
        for MAAS to deploy (``k8s-bm-N``, powered off until the lab's power driver boots the
        user-data MAAS deploys them with through real cloud-init: :mod:`kubesalt.lab.power`).
        """
        report = progress or (lambda message: None)
        hosts, user_data = self._plan(
            workers,
            control_planes,
            domain,
            salt=salt,
            boot=boot,
            maas=maas,
            bare_metal=bare_metal,
            report=report,
        )
        self._lock_fd = statefiles.acquire_lock(self.lock_path, self.state_dir, lock_wait)
        started = time.monotonic()
        timings: dict[str, float] = {}
        try:
            with processes.interrupt_on_sigterm():
                statefiles.clean_state_dir(self.state_dir)
                report(f"starting {len(hosts)} hosts: {', '.join(h.name for h in hosts)}")
                self._start_supervisor(hosts, user_data, power_driver=bool(bare_metal and salt))
                timings["hosts"] = time.monotonic() - started
                report("wiring the public and private networks")
                wiring.wire_network(self, hosts)
                timings["network"] = time.monotonic() - started
                statefiles.write_info(self.state_dir, hosts, timings, state="network")
                if salt:
                    report("installing Salt on the master host as its Debian packages do")
                    installs.install_master_as_packaged(self)
                    installs.install_simulators(self, hosts, report)
                    if maas:
                        installs.install_maas(self, hosts, report)
                    timings["simulators"] = time.monotonic() - started
                    if user_data:
                        cloudinit.boot_all(self, hosts, report)
                    else:
                        self._start_salt(hosts, report)
                    timings["salt"] = time.monotonic() - started
                timings["total"] = time.monotonic() - started
                statefiles.write_info(self.state_dir, hosts, timings, state="up")
                report(f"lab up in {timings['total']:.1f} s")
        except BaseException:
            report("lab up failed or was interrupted: tearing down")
            self.down()
            raise
        finally:
            # The supervisor (and with it the lab) holds its own copy of the lock.
            self._release_lock()
        return self.info()

    def _plan(
        self, workers, control_planes, domain, *, salt, boot, maas, bare_metal, report
    ) -> tuple[list[Host], dict[str, str] | None]:
        """The lab's hosts and, for ``--boot cloud-init``, their user-data; refuses what this
        machine or the arguments cannot do before anything starts."""
        if boot not in BOOT_MODES:
            raise LabError(f"--boot must be one of {', '.join(BOOT_MODES)}, got {boot!r}")
        problem = requirements_problem()
        if problem:
            raise LabError(problem)
        try:
            hosts = topology.build_hosts(
                workers, control_planes, domain, maas=maas, bare_metal=bare_metal
            )
        except topology.TopologyError as exc:
            raise LabError(str(exc)) from None
        user_data = None
        if boot == "cloud-init" and salt and not shutil.which("cloud-init"):
            raise LabError(
                "--boot cloud-init needs cloud-init: apt-get install cloud-init (make deps)"
            )
        if boot == "cloud-init" and salt:
            report("rendering every host's user-data with Terraform (terraform/modules/cloudinit)")
            user_data = image.render_user_data(hosts, workers, control_planes, domain)
        return hosts, user_data

    def _start_supervisor(
        self, hosts: list[Host], user_data: dict | None = None, *, power_driver: bool = False
    ) -> None:
        repo = repo_root()
        spec = {
            # The bare-metal machines' power driver (kubesalt.lab.power), a child of the
            # supervisor: it dies with the lab.
            "power_driver": power_driver,
            "hosts": [
                image.host_spec(self.state_dir, host, hosts, repo, user_data) for host in hosts
            ],
            "die_with_pid": os.getpid() if self.die_with_caller else None,
            # The private network's resolver, in the switch namespace (kubesalt.lab.dns).
            "dns": [dns.server_spec([topology.RESOLVER_IP], topology.dns_records(hosts))],
        }
        launcher.start(self.state_dir, spec, self._lock_fd)

    # ------------------------------------------------------------------ salt
    def _start_salt(self, hosts: list[Host], report) -> None:
        minions.start_salt(self, hosts, report)

    def boot_cloud_init(
        self,
        host: str,
        user_data: str | None = None,
        *,
        instance_id: str | None = None,
        hostname: str | None = None,
    ) -> None:
        """Boot ``host`` like a VM (:func:`kubesalt.lab.cloudinit.boot_cloud_init`)."""
        cloudinit.boot_cloud_init(self, host, user_data, instance_id=instance_id, hostname=hostname)

    def wait_for_minions(self, expected: list[str], timeout: float = PING_TIMEOUT) -> None:
        """Wait (bounded) until every minion id in ``expected`` answers ``test.ping``."""
        minions.wait_ping(self, expected, timeout)

    # ------------------------------------------------------------------ status / down
    def status(self) -> dict:
        """Whether the lab is up, and each host with its addresses and whether it runs."""
        info = self.info()
        pids = self._pids()
        up = bool(pids) and processes.alive(pids["supervisor"])
        hosts = []
        for host in (info or {}).get("hosts", []):
            pid = (pids or {}).get("hosts", {}).get(host["name"])
            hosts.append({**host, "running": bool(up and pid and processes.alive(pid))})
        return {
            "up": up,
            "state_dir": str(self.state_dir),
            "state": (info or {}).get("state") if up else "down",
            "domain": (info or {}).get("domain"),
            "hosts": hosts,
            "timings": (info or {}).get("timings", {}),
        }

    def down(self) -> float:
        """Stop the lab (idempotent, bounded in time); return the seconds it took. The lab
        cloud in ``<state dir>/cloud`` goes too: its hosts, networks and API state."""
        started = time.monotonic()
        from kubesalt.cloud import install as cloud_install  # noqa: PLC0415

        cloud_install.remove(self.state_dir / "cloud")
        launcher.stop(self.state_dir)
        statefiles.clear_after_down(self.state_dir)
        return time.monotonic() - started
