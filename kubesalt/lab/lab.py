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
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import errno
import fcntl
import ipaddress
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import yaml

from kubesalt.lab import dns
from kubesalt.lab import saltconf
from kubesalt.lab import topology
from kubesalt.lab.topology import Host
from kubesalt.tf import nocloud
from kubesalt.tf import render as tf_render

DEFAULT_STATE_DIR = "/var/lib/kubesalt/lab"
DEFAULT_LOCK_PATH = "/run/lock/kubesalt-lab.lock"
HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/snap/bin"

SUPERVISOR_START_TIMEOUT = 40.0
SUPERVISOR_STOP_TIMEOUT = 3.0
KEYS_TIMEOUT = 60.0
PING_TIMEOUT = 60.0
COMMAND_TIMEOUT = 120.0
MASTER_PKI_DIR = "/etc/salt/pki/master"
CLOUD_INIT_TIMEOUT = 600.0
BOOT_MODES = ("salt", "cloud-init")
MAAS_VERSION = "3.4"
# The region host's PostgreSQL cluster; its socket directory is MAAS_PG_DIR/sock (the lab
# pillar's maas:db:superuser:db_host).
MAAS_PG_DIR = "/var/lib/kubesalt-pg"

REQUIRED_BINARIES = ("ip", "nsenter", "setpriv", "iptables", "start-stop-daemon", "service")


class LabError(RuntimeError):
    """The lab could not do what was asked; the message says what to do."""


def state_dir_default() -> str:
    return os.environ.get("KUBESALT_LAB_DIR", DEFAULT_STATE_DIR)


def lock_path_default() -> str:
    return os.environ.get("KUBESALT_LAB_LOCK", DEFAULT_LOCK_PATH)


def repo_root() -> pathlib.Path:
    """The work tree whose Salt tree and pillar the lab serves.

    The package's own checkout when it runs from one (tests, an editable install), else the
    current directory (``make demo`` after a non-editable ``pip install .``), else
    ``$KUBESALT_REPO``.
    """
    candidates = []
    if os.environ.get("KUBESALT_REPO"):
        candidates.append(pathlib.Path(os.environ["KUBESALT_REPO"]))
    candidates += [pathlib.Path(__file__).resolve().parents[2], pathlib.Path.cwd()]
    for candidate in candidates:
        if (candidate / "salt" / "states").is_dir() and (candidate / "kubesalt").is_dir():
            return candidate.resolve()
    raise LabError(
        "cannot find the kubesalt work tree (salt/states): run from the repository or set "
        "KUBESALT_REPO"
    )


# Directories every host gets fresh (its own tmpfs): a machine path below one of them would
# be hidden in the hosts.
HOST_OWN_DIRS = ("/tmp", "/run", "/dev/shm")  # noqa: S108


def machine_paths_hidden_in_hosts(paths) -> list[str]:
    """Of ``paths`` (which the hosts must see), those a host's own /tmp, /run or /dev/shm
    would hide, outermost only: the lab binds them read-only at the same place (a clone
    of the project under /tmp runs its lab like one under /work)."""
    hidden = set()
    for path in paths:
        resolved = pathlib.Path(os.path.realpath(path))
        if any(resolved.is_relative_to(own) for own in HOST_OWN_DIRS):
            hidden.add(resolved)
    outermost = [
        p for p in hidden if not any(p != other and p.is_relative_to(other) for other in hidden)
    ]
    return sorted(str(p) for p in outermost)


def salt_bin_dir() -> pathlib.Path:
    """The bin directory of the Salt the hosts run: this interpreter's virtualenv."""
    for candidate in (pathlib.Path(sys.executable).parent, repo_root() / ".venv" / "bin"):
        if (candidate / "salt-minion").exists():
            return candidate
    raise LabError(
        f"no salt-minion next to {sys.executable}: run kubesalt from the project's "
        "virtualenv (make venv)"
    )


def requirements_problem() -> str | None:
    """Why the lab cannot run on this machine, or None when it can."""
    if os.geteuid() != 0:
        return (
            "the lab needs root (namespaces, overlayfs mounts, veth links): "
            "run it as root, e.g. sudo make demo"
        )
    try:
        filesystems = pathlib.Path("/proc/filesystems").read_text()
    except OSError:
        filesystems = ""
    if "overlay" not in filesystems.split():
        return (
            "the lab needs overlayfs (kernel module 'overlay'): modprobe overlay, or run on "
            "a kernel with CONFIG_OVERLAY_FS"
        )
    for kind in ("pid", "net", "mnt", "uts", "ipc"):
        if not os.path.exists(f"/proc/self/ns/{kind}"):
            return f"the lab needs {kind} namespaces (kernel without /proc/self/ns/{kind})"
    missing = [name for name in REQUIRED_BINARIES if not shutil.which(name)]
    if missing:
        return (
            f"the lab needs {', '.join(missing)}: apt-get install iproute2 util-linux "
            "iptables dpkg init-system-helpers (make deps)"
        )
    return None


def running_lab(lock_path: str | None = None) -> str | None:
    """The state directory of the lab up on this machine, or None when none is.

    Probes the machine-wide lock without keeping it.
    """
    path = lock_path or lock_path_default()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return os.pread(fd, 4096, 0).decode(errors="replace").strip() or "?"
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (tells a live process from a reused pid)."""
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is not alive for us (it holds no namespace).
    try:
        state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def image_spec(hostname: str, mountpoint: pathlib.Path, repo: pathlib.Path) -> dict:
    """The lab's "image": the part of a host's spec (:func:`kubesalt.lab.hostinit.build_root`)
    every lab host shares, whoever starts it (``kubesalt lab up`` or the lab cloud): the
    project's Salt commands in /usr/local/bin, ``runlevel``, the ``kubesalt`` launcher, none of
    the machine's own Salt state, and the machine paths a host's own /tmp would hide."""
    bin_dir = salt_bin_dir()
    files = {
        "/etc/hostname": (f"{hostname}\n", 0o644),
        # Debian's `runlevel` is systemd's here and fails without it; a sysvinit machine
        # answers "N 2" (Salt's debian_service provider asks it for every service call).
        "/usr/local/sbin/runlevel": ("#!/bin/sh\necho 'N 2'\n", 0o755),
        "/usr/local/bin/kubesalt": (
            f'#!/bin/sh\nexec env PYTHONPATH={repo} {bin_dir}/python -m kubesalt "$@"\n',
            0o755,
        ),
    }
    symlinks = [(str(bin_dir / name), f"/usr/local/bin/{name}") for name in saltconf.SALT_COMMANDS]
    # First, so that binds into the host's own /tmp find their place.
    needed = (repo, bin_dir.parent, pathlib.Path(os.path.realpath(sys.executable)).parents[1])
    return {
        "hostname": hostname,
        "mountpoint": str(mountpoint),
        "files": files,
        "symlinks": symlinks,
        "ro_binds": [(path, path) for path in machine_paths_hidden_in_hosts(needed)],
        "remove": ["/etc/salt", "/var/cache/salt", "/var/log/salt", "/run/salt"],
    }


def packaged_salt_script() -> str:
    """Shell that leaves a host as Salt's Debian packages do (saltconf.MASTER_PACKAGE_LAYOUT),
    with the project's Salt readable by the user ``salt``: the virtualenv's interpreter may
    live under a directory only root may enter (pyenv under /root). The host opens such
    directories to others (o+x) in its own copy-on-write root: the machine's stay as they
    are."""
    needed = [
        pathlib.Path(os.path.realpath(sys.executable)),
        pathlib.Path(sys.base_prefix),
        salt_bin_dir(),
        repo_root(),
    ]
    closed = sorted(
        {
            str(directory)
            for path in needed
            for directory in [path, *path.parents]
            if directory.is_dir() and not directory.stat().st_mode & 0o001
        }
    )
    script = saltconf.MASTER_PACKAGE_LAYOUT
    if closed:
        script += "chmod o+x " + " ".join(closed) + "\n"
    return script


def host_command(pid: int, argv: list[str], env: dict | None = None) -> list[str]:
    """The command line that runs ``argv`` as root in the lab host whose PID 1 is ``pid``
    (all its namespaces, its root, a clean environment); it dies with the caller."""
    environment = {
        "PATH": HOST_PATH,
        "HOME": "/root",
        "USER": "root",
        "LOGNAME": "root",
        "SHELL": "/bin/bash",
        "LANG": "C.UTF-8",
        "TERM": os.environ.get("TERM", "dumb"),
    }
    environment.update(env or {})
    return [
        "nsenter",
        f"--target={pid}",
        "--mount",
        "--uts",
        "--ipc",
        "--net",
        "--pid",
        "--root",
        "--wd",
        "--",
        # nsenter forks the command into the host's PID namespace; when nsenter is killed
        # (a timeout, a test's clean-up) the command dies with it instead of lingering.
        "setpriv",
        "--pdeathsig=KILL",
        "--",
        "/usr/bin/env",
        "-i",
        *[f"{key}={value}" for key, value in environment.items()],
        *argv,
    ]


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
    @property
    def _pids_file(self) -> pathlib.Path:
        return self.state_dir / "pids.json"

    @property
    def _lab_file(self) -> pathlib.Path:
        return self.state_dir / "lab.json"

    def _read_json(self, path: pathlib.Path) -> dict | None:
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None

    def info(self) -> dict | None:
        """What ``up`` recorded: domain, hosts (with addresses and roles), timings."""
        return self._read_json(self._lab_file)

    def hosts(self) -> list[Host]:
        info = self.info()
        if not info:
            raise LabError(f"no lab in {self.state_dir}: run `kubesalt lab up` first")
        return [
            Host(
                name=h["name"],
                domain=info["domain"],
                roles=tuple(h["roles"]),
                private_ip=h.get("private_ip"),
                public_ip=h.get("public_ip"),
                runs_salt=h["runs_salt"],
                bare_metal=h.get("bare_metal", False),
            )
            for h in info["hosts"]
        ]

    def _pids(self) -> dict | None:
        pids = self._read_json(self._pids_file)
        if not pids:
            return None
        supervisor = pids.get("supervisor")
        if not supervisor or _start_time(supervisor) != pids.get("supervisor_start"):
            return None
        return pids

    def is_up(self) -> bool:
        pids = self._pids()
        return bool(pids) and _alive(pids["supervisor"])

    # ------------------------------------------------------------------ lock
    def _acquire_lock(self, wait: float) -> None:
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    os.close(fd)
                    raise
                if time.monotonic() >= deadline:
                    try:
                        owner = os.pread(fd, 4096, 0).decode(errors="replace").strip()
                    finally:
                        os.close(fd)
                    raise LabError(
                        f"a lab is already up on this machine (state in {owner or '?'}): "
                        "one lab at a time; run `kubesalt lab down` first"
                    ) from None
                time.sleep(0.5)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{self.state_dir}\n".encode(), 0)
        self._lock_fd = fd

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # ------------------------------------------------------------------ running commands
    def _nsenter(self, pid: int, argv: list[str], env: dict | None = None) -> list[str]:
        return host_command(pid, argv, env)

    def host_pid(self, host: str) -> int:
        pids = self._pids()
        if not pids or not _alive(pids["supervisor"]):
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
        command = self._nsenter(self.host_pid(host), list(argv), env)
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
        return subprocess.Popen(self._nsenter(self.host_pid(host), list(argv)), **popen_kwargs)

    def salt(self, args: list[str], **kwargs) -> subprocess.CompletedProcess:
        """Run ``salt ARGS...`` on the master host."""
        return self.exec("salt", ["salt", *args], **kwargs)

    def _switch(self, argv: list[str], input: str | None = None) -> None:
        pids = self._pids()
        command = ["nsenter", f"--target={pids['switch']}", "--net", "--", *argv]
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
            user_data = self._render_user_data(hosts, workers, control_planes, domain)
        self._acquire_lock(lock_wait)
        started = time.monotonic()
        timings: dict[str, float] = {}
        try:
            with _interrupt_on_sigterm():
                self._clean_state_dir()
                report(f"starting {len(hosts)} hosts: {', '.join(h.name for h in hosts)}")
                self._start_supervisor(hosts, user_data, power_driver=bool(bare_metal and salt))
                timings["hosts"] = time.monotonic() - started
                report("wiring the public and private networks")
                self._wire_network(hosts)
                timings["network"] = time.monotonic() - started
                self._write_info(hosts, timings, state="network")
                if salt:
                    report("installing Salt on the master host as its Debian packages do")
                    self._install_master_as_packaged()
                    self._install_simulators(hosts, report)
                    if maas:
                        self._install_maas(hosts, report)
                    timings["simulators"] = time.monotonic() - started
                    if user_data:
                        self._boot_cloud_init(hosts, report)
                    else:
                        self._start_salt(hosts, report)
                    timings["salt"] = time.monotonic() - started
                timings["total"] = time.monotonic() - started
                self._write_info(hosts, timings, state="up")
                report(f"lab up in {timings['total']:.1f} s")
        except BaseException:
            report("lab up failed or was interrupted: tearing down")
            self.down()
            raise
        finally:
            # The supervisor (and with it the lab) holds its own copy of the lock.
            self._release_lock()
        return self.info()

    def _clean_state_dir(self) -> None:
        if self.state_dir.exists():
            for name in ("hosts", "logs", "pids.json", "lab.json", "spec.json"):
                path = self.state_dir / name
                if path.is_dir():
                    shutil.rmtree(path)
                elif path.exists():
                    path.unlink()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "hosts").mkdir()

    def _render_user_data(
        self, hosts: list[Host], workers: int, control_planes: int, domain: str
    ) -> dict[str, str]:
        """Every Salt host's user-data, by minion id, from the real Terraform module."""
        try:
            # Hosts beyond the Terraform layout's own (the MAAS hosts): the module's
            # extra_nodes, in the inventory with their roles.
            layout_roles = {"salt_master", "bastion", "microk8s_control_plane", "microk8s_worker"}
            extra_nodes = [
                {"hostname": h.name, "private_ip": h.private_ip, "roles": list(h.roles)}
                for h in hosts
                if h.runs_salt and not layout_roles & set(h.roles)
            ]
            rendered = tf_render.render_lab(
                None, control_planes, workers, domain, extra_nodes=extra_nodes
            )
        except Exception as exc:  # the engine's own errors say what went wrong
            raise LabError(f"rendering the user-data with Terraform failed: {exc}") from exc
        expected = {host.minion_id for host in hosts if host.runs_salt}
        if set(rendered.user_data) != expected:
            raise LabError(
                f"Terraform rendered user-data for {sorted(rendered.user_data)}, "
                f"the lab has {sorted(expected)}"
            )
        return rendered.user_data

    def _host_spec(
        self,
        host: Host,
        hosts: list[Host],
        repo: pathlib.Path,
        user_data: dict[str, str] | None = None,
    ) -> dict:
        bin_dir = salt_bin_dir()
        mountpoint = self.state_dir / "hosts" / host.name
        mountpoint.mkdir()
        spec = image_spec(host.name, mountpoint, repo)
        files, symlinks, remove = spec["files"], spec["symlinks"], spec["remove"]
        files.update(
            {
                "/etc/hosts": (topology.etc_hosts(hosts), 0o644),
                "/etc/resolv.conf": (topology.resolv_conf(host.domain), 0o644),
                "/etc/mailname": (f"{host.fqdn}\n", 0o644),
            }
        )
        ro_binds = []
        booting = bool(user_data) and host.runs_salt
        if host.bare_metal:
            # Powered off: cloud-init has never run; the power driver writes the NoCloud seed
            # MAAS's deployment carries and boots it (kubesalt.lab.power).
            files[nocloud.DATASOURCE_CFG_PATH] = (nocloud.DATASOURCE_CFG, 0o644)
            remove += ["/var/lib/cloud", nocloud.SEED_DIR]
            files["/etc/init.d/salt-minion"] = (
                saltconf.init_script("salt-minion", str(bin_dir / "salt-minion"), "Salt minion"),
                0o755,
            )
            symlinks += saltconf.rc_links("salt-minion")
        if booting:
            # cloud-init configures Salt from the seed; nothing of the machine's own
            # cloud-init state may make it think this instance already booted.
            seed = nocloud.seed_files(
                user_data[host.minion_id], f"kubesalt-{host.minion_id}", host.name
            )
            for path, text in seed.items():
                files[path] = (text, 0o600 if path.endswith("/user-data") else 0o644)
            remove += ["/var/lib/cloud/instance", "/var/lib/cloud/instances", "/var/lib/cloud/data"]
        if host.runs_salt:
            master = next(h for h in hosts if "salt_master" in h.roles)
            if not booting:
                files["/etc/salt/minion"] = (saltconf.minion_config(host, master), 0o644)
            files["/etc/init.d/salt-minion"] = (
                saltconf.init_script("salt-minion", str(bin_dir / "salt-minion"), "Salt minion"),
                0o755,
            )
            symlinks += saltconf.rc_links("salt-minion")
        if "salt_master" in host.roles and booting:
            files["/etc/salt/master"] = (saltconf.PACKAGED_MASTER_CONFIG, 0o644)
            files["/etc/init.d/salt-master"] = (
                saltconf.init_script(
                    "salt-master", str(bin_dir / "salt-master"), "Salt master", saltconf.SALT_USER
                ),
                0o755,
            )
            symlinks += saltconf.rc_links("salt-master")
            # The bootstrap in the user-data finds the state tree here and does not clone it.
            ro_binds = [(str(repo), saltconf.SRV)]
        elif "salt_master" in host.roles:
            files["/etc/salt/master"] = (saltconf.master_config(host), 0o644)
            files["/etc/init.d/salt-master"] = (
                saltconf.init_script(
                    "salt-master", str(bin_dir / "salt-master"), "Salt master", saltconf.SALT_USER
                ),
                0o755,
            )
            files[f"{saltconf.LAB_PILLAR_DIR}/_from_terraform.sls"] = (
                topology.inventory_sls(hosts),
                0o644,
            )
            symlinks += saltconf.rc_links("salt-master")
            ro_binds = [
                (str(repo / "salt" / "states"), saltconf.STATES_DIR),
                (str(repo / "salt"), saltconf.SALT_DIR),
            ]
            if (repo / "pillar").is_dir():
                ro_binds.append((str(repo / "pillar"), saltconf.PILLAR_DIR))
        spec["ro_binds"] += ro_binds
        return spec

    def _start_supervisor(
        self, hosts: list[Host], user_data: dict | None = None, *, power_driver: bool = False
    ) -> None:
        repo = repo_root()
        spec = {
            # The bare-metal machines' power driver (kubesalt.lab.power), a child of the
            # supervisor: it dies with the lab.
            "power_driver": power_driver,
            "hosts": [self._host_spec(host, hosts, repo, user_data) for host in hosts],
            "die_with_pid": os.getpid() if self.die_with_caller else None,
            # The private network's resolver, in the switch namespace (kubesalt.lab.dns).
            "dns": [dns.server_spec([topology.RESOLVER_IP], topology.dns_records(hosts))],
        }
        (self.state_dir / "spec.json").write_text(json.dumps(spec, indent=1))
        package_root = str(pathlib.Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = package_root + os.pathsep + env.get("PYTHONPATH", "")
        log = open(self.state_dir / "supervisor.log", "ab")
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "kubesalt.lab.supervisor", str(self.state_dir)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd="/",
                env=env,
                start_new_session=True,
                pass_fds=(self._lock_fd,),
            )
        finally:
            log.close()
        deadline = time.monotonic() + SUPERVISOR_START_TIMEOUT
        while time.monotonic() < deadline:
            pids = self._read_json(self._pids_file)
            if pids:
                pids["supervisor_start"] = _start_time(pids["supervisor"])
                # Start times tell the lab's processes from later ones that reuse a pid
                # (e.g. a state dir left over from before a reboot): down kills only these.
                pids["start_times"] = {
                    str(pid): _start_time(pid) for pid in [pids["switch"], *pids["hosts"].values()]
                }
                self._pids_file.write_text(json.dumps(pids))
                # Reap the supervisor's zombie later without blocking: it is not our child
                # for long (we return), and the kernel re-parents it.
                return
            if process.poll() is not None:
                raise LabError(f"the lab supervisor failed:\n{self._log_tail()}")
            time.sleep(0.05)
        process.kill()
        raise LabError(
            f"the lab supervisor did not start its hosts in {SUPERVISOR_START_TIMEOUT:.0f} s:"
            f"\n{self._log_tail()}"
        )

    def _log_tail(self, lines: int = 20) -> str:
        try:
            text = (self.state_dir / "supervisor.log").read_text(errors="replace")
        except OSError:
            return "(no supervisor log)"
        return "\n".join(text.splitlines()[-lines:])

    def _wire_network(self, hosts: list[Host]) -> None:
        pids = self._pids()
        private_prefix = ipaddress.ip_network(topology.PRIVATE_CIDR).prefixlen
        # Every link is created from inside the switch namespace with its host end placed
        # directly into the host's namespace: no interface ever exists on the machine.
        batch = [
            "link add br-private type bridge",
            "link add br-public type bridge",
            "link set br-private up",
            "link set br-public up",
            # The resolver's address (it listens already, bound with IP_FREEBIND).
            f"addr add {topology.RESOLVER_IP}/{private_prefix} dev br-private",
        ]
        for index, host in enumerate(hosts):
            for iface, network, _address in host.interfaces():
                port = f"{network[:3]}{index}"  # e.g. pri3 / pub3: under 15 characters
                batch += [
                    f"link add {port} type veth peer name {iface} netns {pids['hosts'][host.name]}",
                    f"link set {port} master br-{network} up",
                ]
        self._switch(["ip", "-batch", "-"], input="\n".join(batch) + "\n")

        def configure(host: Host) -> None:
            commands = []
            for iface, _network, address in host.interfaces():
                commands += [f"addr add {address} dev {iface}", f"link set {iface} up"]
            gateway = host.default_gateway()
            if gateway:
                commands.append(f"route add default via {gateway}")
            self.exec(
                host.name, ["ip", "-batch", "-"], input="\n".join(commands) + "\n", check=True
            )
            if host.name == "bastion":
                # Like the cloud-init of the bastion: forward and masquerade the private net.
                script = (
                    "echo 1 > /proc/sys/net/ipv4/ip_forward && "
                    f"iptables -t nat -A POSTROUTING -s {topology.PRIVATE_CIDR} "
                    f"-o {topology.PUBLIC_IFACE} -j MASQUERADE"
                )
                self.exec(host.name, ["sh", "-c", script], check=True)

        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(configure, hosts))

    def _write_info(self, hosts: list[Host], timings: dict, state: str) -> None:
        info = {
            "state": state,
            "domain": hosts[0].domain,
            "state_dir": str(self.state_dir),
            "hosts": [
                {
                    "name": h.name,
                    "fqdn": h.fqdn,
                    "roles": list(h.roles),
                    "private_ip": h.private_ip,
                    "public_ip": h.public_ip,
                    "runs_salt": h.runs_salt,
                    "bare_metal": h.bare_metal,
                }
                for h in hosts
            ],
            "timings": {key: round(value, 2) for key, value in timings.items()},
        }
        tmp = self._lab_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(info, indent=1))
        tmp.replace(self._lab_file)

    # ------------------------------------------------------------------ salt
    def _start_salt(self, hosts: list[Host], report) -> None:
        minions = [h for h in hosts if h.runs_salt]
        report("starting salt-master on salt and salt-minion on every host (init scripts)")
        # All at once: a minion that starts before the master simply retries.
        starts = [("salt", "salt-master")] + [(h.name, "salt-minion") for h in minions]
        self._parallel([(name, ["service", service, "start"]) for name, service in starts])
        expected = [h.minion_id for h in minions]
        report(f"accepting {len(expected)} minion keys explicitly (salt-key -a ID -y)")
        self._accept_keys(expected)
        report("waiting for every minion to answer test.ping")
        self._wait_ping(expected)

    def _install_master_as_packaged(self) -> None:
        """The master host as Salt's Debian packages leave it (:func:`packaged_salt_script`)."""
        self.exec("salt", ["sh", "-c", packaged_salt_script()], check=True)

    def _boot_cloud_init(self, hosts: list[Host], report) -> None:
        """Run cloud-init's boot stages in every Salt host, like a booting VM, then wait for
        every minion (their keys are accepted in advance by the user-data)."""
        minions = [h for h in hosts if h.runs_salt]
        report(
            f"booting {len(minions)} hosts with cloud-init "
            f"({', '.join(' '.join(stage[1:]) for stage in nocloud.CLOUD_INIT_STAGES)})"
        )

        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            for future in [pool.submit(self.boot_cloud_init, host.name) for host in minions]:
                future.result()
        report("waiting for every minion to answer test.ping")
        self._wait_ping([h.minion_id for h in minions], CLOUD_INIT_TIMEOUT)

    def boot_cloud_init(
        self,
        host: str,
        user_data: str | None = None,
        *,
        instance_id: str | None = None,
        hostname: str | None = None,
    ) -> None:
        """Boot ``host`` like a VM: real cloud-init's stages, from the NoCloud seed its root
        holds, or from ``user_data`` (with ``instance_id`` and ``hostname`` for the
        meta-data: a new instance id runs the per-instance modules again), written first.
        The one way the lab boots user-data (hosts of ``--boot cloud-init``, bare-metal
        machines MAAS deploys); on failure the host's cloud-init logs are kept in
        ``<state dir>/logs`` and the error says where."""
        if user_data is not None:
            seed = nocloud.seed_files(user_data, instance_id or host, hostname or host)
            script = "set -e; umask 077; mkdir -p " + nocloud.SEED_DIR
            self.exec(host, ["sh", "-c", script], check=True)
            for path, text in seed.items():
                mode = "0600" if path.endswith("/user-data") else "0644"
                write = f"set -e; umask 077; cat > {path}.tmp; chmod {mode} {path}.tmp; "
                write += f"mv {path}.tmp {path}"
                self.exec(host, ["sh", "-c", write], check=True, input=text)
        for stage in nocloud.CLOUD_INIT_STAGES:
            run = self.exec(host, list(stage), timeout=CLOUD_INIT_TIMEOUT)
            if run.returncode != 0:
                self._keep_cloud_init_log(host)
                output = (run.stderr + run.stdout).strip()[-1500:]
                raise LabError(
                    f"{host}: {' '.join(stage)} failed (exit {run.returncode}); "
                    f"its cloud-init logs are in {self.state_dir / 'logs'}:\n{output}"
                )

    def _keep_cloud_init_log(self, host: str) -> None:
        """Copy a host's cloud-init logs out of it before the lab is torn down."""
        logs = self.state_dir / "logs"
        logs.mkdir(exist_ok=True)
        for name in ("cloud-init.log", "cloud-init-output.log"):
            run = self.exec(host, ["cat", f"/var/log/{name}"])
            (logs / f"{host}-{name}").write_text(run.stdout or "")

    def _parallel(self, commands: list[tuple[str, list[str]]]) -> None:
        """Run ``(host, argv)`` commands concurrently; raise the first failure."""
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            futures = [pool.submit(self.exec, host, argv, check=True) for host, argv in commands]
            for future in futures:
                future.result()

    def _key_lists(self) -> dict:
        """The master's key lists, read from its pki directory: polling with `salt-key -L`
        would start a Python interpreter every half second (listing is not accepting)."""
        script = (
            f"cd {MASTER_PKI_DIR} && for list in minions minions_pre minions_rejected "
            'minions_denied; do echo "$list:"; ls -1 "$list" 2>/dev/null | sed "s/^/- /"; done'
        )
        result = self.exec("salt", ["sh", "-c", script], check=True)
        return {key: value or [] for key, value in yaml.safe_load(result.stdout).items()}

    def _accept_keys(self, expected: list[str]) -> None:
        deadline = time.monotonic() + KEYS_TIMEOUT
        pending = set(expected)
        while pending:
            keys = self._key_lists()
            accepted = set(keys.get("minions", []))
            pending -= accepted
            waiting = sorted(pending & set(keys.get("minions_pre", [])))
            # One explicit acceptance per expected id (never a glob, never auto_accept).
            self._parallel([("salt", ["salt-key", "-a", minion_id, "-y"]) for minion_id in waiting])
            pending -= set(waiting)
            if not pending:
                break
            if time.monotonic() >= deadline:
                raise LabError(
                    f"these minions never asked the master for key acceptance within "
                    f"{KEYS_TIMEOUT:.0f} s: {', '.join(sorted(pending))} (see "
                    "/var/log/salt/minion in those hosts: kubesalt lab exec HOST -- cat ...)"
                )
            time.sleep(0.5)
        unexpected = set(self._key_lists().get("minions", [])) - set(expected)
        if unexpected:
            raise LabError(f"unexpected accepted minion keys: {', '.join(sorted(unexpected))}")

    def wait_for_minions(self, expected: list[str], timeout: float = PING_TIMEOUT) -> None:
        """Wait (bounded) until every minion id in ``expected`` answers ``test.ping``."""
        self._wait_ping(expected, timeout)

    def _wait_ping(self, expected: list[str], timeout: float = PING_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        missing = set(expected)
        while True:
            result = self.salt(
                [
                    "--out=json",
                    "--static",
                    "--timeout=5",
                    "-L",
                    ",".join(sorted(missing)),
                    "test.ping",
                ]
            )
            try:
                answers = json.loads(result.stdout or "{}")
            except ValueError:
                answers = {}
            missing -= {minion for minion, value in answers.items() if value is True}
            if not missing:
                return
            if time.monotonic() >= deadline:
                raise LabError(
                    f"no test.ping answer within {timeout:.0f} s from: {', '.join(sorted(missing))}"
                )
            time.sleep(0.5)

    def _install_simulators(self, hosts: list[Host], report) -> None:
        """Install the MicroK8s simulator's ``snap`` in every Salt host, when it exists."""
        probe = subprocess.run(
            [sys.executable, "-m", "kubesalt", "sim", "microk8s", "install-snap", "--help"],
            check=False,
            capture_output=True,
            text=True,
            timeout=30,
            cwd=str(repo_root()),
        )
        if probe.returncode != 0 or "--address" not in probe.stdout:
            report("MicroK8s simulator not available yet (no `kubesalt sim microk8s install-snap`)")
            return
        report("installing the MicroK8s simulator's snap command in every host")
        install = ["kubesalt", "sim", "microk8s", "install-snap", "--root", "/", "--address"]
        targets = [h for h in hosts if h.runs_salt or h.bare_metal]
        self._parallel([(h.name, [*install, h.main_ip]) for h in targets])

    def _install_maas(self, hosts: list[Host], report) -> None:
        """The MAAS simulator in each MAAS host (launchers in /usr/local/bin, registering as
        the host's short name) and the region host's PostgreSQL, where maas.db creates the
        role and the database. Its daemons live in the hosts' PID namespaces: they die with
        the lab."""
        maas_hosts = [h for h in hosts if {"maas_region", "maas_rack"} & set(h.roles)]
        report(f"installing the MAAS simulator in {', '.join(h.name for h in maas_hosts)}")
        install = ["kubesalt", "sim", "maas", "install", "--root", "/", "--version"]
        self._parallel(
            [
                (h.name, [*install, MAAS_VERSION, "--address", h.main_ip, "--hostname", h.name])
                for h in maas_hosts
            ]
        )
        for host in (h for h in hosts if "maas_db" in h.roles):
            report(f"starting PostgreSQL on {host.name} ({MAAS_PG_DIR}, {host.main_ip}:5432)")
            start = ["kubesalt", "sim", "maas", "postgres", "start", "--dir", MAAS_PG_DIR]
            start += ["--address", host.main_ip, "--port", "5432"]
            start += ["--allow", topology.PRIVATE_CIDR]
            self.exec(host.name, start, check=True)

    # ------------------------------------------------------------------ status / down
    def status(self) -> dict:
        """Whether the lab is up, and each host with its addresses and whether it runs."""
        info = self.info()
        pids = self._pids()
        up = bool(pids) and _alive(pids["supervisor"])
        hosts = []
        for host in (info or {}).get("hosts", []):
            pid = (pids or {}).get("hosts", {}).get(host["name"])
            hosts.append({**host, "running": bool(up and pid and _alive(pid))})
        return {
            "up": up,
            "state_dir": str(self.state_dir),
            "state": (info or {}).get("state") if up else "down",
            "domain": (info or {}).get("domain"),
            "hosts": hosts,
            "timings": (info or {}).get("timings", {}),
        }

    def _is_our_supervisor(self, pid: int, start_time: str | None) -> bool:
        """Whether ``pid`` is this lab's supervisor (not a later process reusing the pid)."""
        try:
            cmdline = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        ours = b"kubesalt.lab.supervisor" in cmdline and os.fsencode(self.state_dir) in cmdline
        return ours and (start_time is None or _start_time(pid) == start_time)

    def down(self) -> float:
        """Stop the lab (idempotent, bounded in time); return the seconds it took. The lab
        cloud in ``<state dir>/cloud`` goes too: its hosts, networks and API state."""
        started = time.monotonic()
        from kubesalt.cloud import install as cloud_install  # noqa: PLC0415

        cloud_install.remove(self.state_dir / "cloud")
        pids = self._read_json(self._pids_file) or {}
        supervisor = pids.get("supervisor")
        ours = bool(supervisor) and self._is_our_supervisor(
            supervisor, pids.get("supervisor_start")
        )
        # Only processes whose start time was recorded at up are the lab's. Without start
        # times (up stopped right after the supervisor wrote its pids), only while that
        # supervisor is verifiably ours.
        recorded = pids.get("start_times")
        all_pids = [pids.get("switch"), *pids.get("hosts", {}).values()]
        all_pids = [
            pid
            for pid in all_pids
            if pid
            and (_start_time(pid) == recorded.get(str(pid)) if recorded is not None else ours)
        ]
        if ours:
            with contextlib.suppress(ProcessLookupError):
                os.kill(supervisor, signal.SIGTERM)
            if not _wait_gone([supervisor], SUPERVISOR_STOP_TIMEOUT):
                # PDEATHSIG then kills every host and the switch.
                with contextlib.suppress(ProcessLookupError):
                    os.kill(supervisor, signal.SIGKILL)
                _wait_gone([supervisor], 1.0)
        # The hosts' PID 1 and the switch die with the supervisor; make sure, bounded.
        if not _wait_gone(all_pids, 2.0):
            for pid in all_pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            _wait_gone(all_pids, 1.0)
        if self.state_dir.exists():
            for name in ("hosts", "pids.json", "spec.json"):
                path = self.state_dir / name
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                elif path.exists():
                    path.unlink()
            if self._lab_file.exists():
                info = self.info() or {}
                info["state"] = "down"
                self._lab_file.write_text(json.dumps(info, indent=1))
        return time.monotonic() - started


def _wait_gone(pids: list[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        alive = [pid for pid in pids if _alive(pid)]
        if not alive:
            return True
        for pid in alive:
            # Our own children (a supervisor started by this process) must be reaped.
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


@contextlib.contextmanager
def _interrupt_on_sigterm():
    """Turn SIGTERM into KeyboardInterrupt while bringing a lab up, so it tears down."""

    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
