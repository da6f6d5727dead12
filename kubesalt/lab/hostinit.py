"""What runs inside a lab host: building its root, then being its PID 1.

A host is a process tree started by the lab supervisor (``kubesalt.lab.supervisor``):

* the *keeper* (a child of the supervisor, outside the host) moves into a new PID
  namespace and forks the host's init; it dies with the supervisor (PR_SET_PDEATHSIG);
* the *init* (PID 1 of the new PID namespace) dies with the keeper, takes new mount, UTS,
  network and IPC namespaces, builds the root and then only reaps zombies.

When PID 1 of a PID namespace dies the kernel kills every process in it; the host's mount
and network namespaces then have no process left and are freed with all their mounts,
interfaces and addresses. Nothing of a host ever needs an explicit clean-up.

The root is an overlay whose lower layer is the machine's ``/`` and whose upper layer sits
on a tmpfs mounted inside the host's own mount namespace: every write of the host lands in
memory that disappears with the namespace, and the machine's mount table never shows it.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import stat
import subprocess
import sys

from kubesalt.lab import dns
from kubesalt.lab import ns

try:  # optional (a dependency of Salt's): names the lab's processes in ps
    import setproctitle
except ImportError:  # pragma: no cover
    setproctitle = None

OLD_ROOT = ".lab-old-root"


def set_title(title: str) -> None:
    """Name the process in ``ps`` (every lab process starts with "kubesalt.lab")."""
    if setproctitle is not None:
        setproctitle.setproctitle(title)


def _write_file(root: str, path: str, text: str | bytes, mode: int = 0o644) -> None:
    full = os.path.join(root, path.lstrip("/"))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    # /etc/resolv.conf is often a symlink to a file elsewhere: replace the link itself.
    if os.path.islink(full):
        os.unlink(full)
    with open(full, "wb") as handle:
        handle.write(text if isinstance(text, bytes) else text.encode())
    os.chmod(full, mode)


def _symlink(root: str, target: str, link: str) -> None:
    full = os.path.join(root, link.lstrip("/"))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    if os.path.lexists(full):
        os.unlink(full)
    os.symlink(target, full)


# The host's own tmpfs mounts (empty at every boot of a real machine: what a power cycle
# clears, kubesalt.lab.power) and the directories Debian's boot makes in /run.
VOLATILE_MOUNTS = ("/run", "/dev/shm", "/tmp")  # noqa: S108
RUN_DIRECTORIES = ("run/lock", "run/sshd")

# A private /dev (tmpfs): the character devices a Debian guest's userland needs, never the
# machine's devtmpfs (lab-cloud hosts: their volumes' nodes are added by kubesalt.cloud.volumes).
PRIVATE_DEVICES = {
    "null": (1, 3),
    "zero": (1, 5),
    "full": (1, 7),
    "random": (1, 8),
    "urandom": (1, 9),
    "tty": (5, 0),
}
PRIVATE_LINKS = {
    "fd": "/proc/self/fd",
    "stdin": "/proc/self/fd/0",
    "stdout": "/proc/self/fd/1",
    "stderr": "/proc/self/fd/2",
}


def _private_dev(path: str) -> None:
    ns.mount("kubesalt-lab-dev", path, "tmpfs", ns.MS_NOSUID, "mode=0755")
    for name, (major, minor) in PRIVATE_DEVICES.items():
        os.mknod(f"{path}/{name}", 0o666 | stat.S_IFCHR, os.makedev(major, minor))
        os.chmod(f"{path}/{name}", 0o666)  # noqa: S103 (as devtmpfs makes them)
    for name, target in PRIVATE_LINKS.items():
        os.symlink(target, f"{path}/{name}")
    for name in ("pts", "shm"):
        os.mkdir(f"{path}/{name}")
    open(f"{path}/ptmx", "w").close()


def build_root(spec: dict) -> None:
    """Mount the host's root from ``spec`` and pivot into it (runs as the host's PID 1)."""
    base = spec["mountpoint"]
    root = os.path.join(base, "root")
    # Nothing we mount from here on may propagate back to the machine.
    ns.mount(None, "/", None, ns.MS_REC | ns.MS_PRIVATE)
    ns.mount("kubesalt-lab", base, "tmpfs", 0, "mode=0755")
    for name in ("upper", "work", "root"):
        os.mkdir(os.path.join(base, name))
    ns.mount(
        "kubesalt-lab",
        root,
        "overlay",
        0,
        f"lowerdir=/,upperdir={base}/upper,workdir={base}/work",
    )
    ns.mount("proc", f"{root}/proc", "proc", ns.MS_NOSUID | ns.MS_NODEV | ns.MS_NOEXEC)
    # Kernel-wide sysctls (fs.*, kernel.*, vm.*) would change the machine: /proc/sys is
    # read-only except net.*, which belongs to the host's own network namespace.
    ns.bind_mount(f"{root}/proc/sys", f"{root}/proc/sys", read_only=True)
    ns.bind_mount(f"{root}/proc/sys/net", f"{root}/proc/sys/net")
    ns.mount(
        "sysfs",
        f"{root}/sys",
        "sysfs",
        ns.MS_RDONLY | ns.MS_NOSUID | ns.MS_NODEV | ns.MS_NOEXEC,
    )
    if spec.get("private_dev"):
        _private_dev(f"{root}/dev")
    else:
        ns.bind_mount("/dev", f"{root}/dev")
    ns.mount(
        "devpts",
        f"{root}/dev/pts",
        "devpts",
        ns.MS_NOSUID | ns.MS_NOEXEC,
        "newinstance,ptmxmode=0666,mode=0620",
    )
    ns.bind_mount(f"{root}/dev/pts/ptmx", f"{root}/dev/ptmx")
    # The host's own /dev/shm, /run and /tmp (paths inside the host's root, not the machine's).
    nosuid_nodev = ns.MS_NOSUID | ns.MS_NODEV
    ns.mount("shm", f"{root}/dev/shm", "tmpfs", nosuid_nodev, "mode=1777")  # noqa: S108
    ns.mount("tmpfs", f"{root}/run", "tmpfs", nosuid_nodev, "mode=0755")
    ns.mount("tmpfs", f"{root}/tmp", "tmpfs", nosuid_nodev, "mode=1777")  # noqa: S108
    for directory in RUN_DIRECTORIES:
        os.makedirs(os.path.join(root, directory), exist_ok=True)
    # Debian's /run/lock is world-writable with the sticky bit, like /tmp.
    os.chmod(os.path.join(root, "run/lock"), 0o1777)  # noqa: S103
    for source, target in spec.get("ro_binds", []):
        full = os.path.join(root, target.lstrip("/"))
        os.makedirs(full, exist_ok=True)
        ns.bind_mount(source, full, read_only=True)
    # The machine's own Salt keys or caches, if any, must not be shared by the hosts.
    for path in spec.get("remove", []):
        full = os.path.join(root, path.lstrip("/"))
        if os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full)
        elif os.path.lexists(full):
            os.unlink(full)
    for path, (text, mode) in spec.get("files", {}).items():
        _write_file(root, path, text, mode)
    for target, link in spec.get("symlinks", []):
        _symlink(root, target, link)

    old_root = os.path.join(root, OLD_ROOT)
    os.mkdir(old_root)
    ns.pivot_root(root, old_root)
    os.chdir("/")
    ns.umount(f"/{OLD_ROOT}", ns.MNT_DETACH)
    os.rmdir(f"/{OLD_ROOT}")
    ns.sethostname(spec["hostname"])
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10)


def _reap(signum=None, frame=None) -> None:
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def run_init() -> None:
    """Be PID 1: reap orphans until told to stop. Never returns."""
    signal.signal(signal.SIGCHLD, _reap)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGINT, lambda *_: os._exit(0))
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    _reap()
    while True:
        signal.pause()


def start_host(spec: dict, report_fd: int) -> int:
    """Fork the keeper of one host (from the supervisor); return the keeper's pid.

    Lines written to ``report_fd``: ``pid <init pid as seen by the machine>`` from the
    keeper, then ``ready`` or ``error <message>`` from the init.
    """
    supervisor = os.getpid()
    keeper = os.fork()
    if keeper:
        return keeper
    try:
        ns.set_pdeathsig(signal.SIGKILL)
        if os.getppid() != supervisor:  # it died before PDEATHSIG was armed
            os._exit(1)
        set_title(f"kubesalt.lab keeper {spec['hostname']}")
        ns.unshare(ns.CLONE_NEWPID)
        # The init cannot see its parent's pid from inside its PID namespace: it checks
        # that the keeper is alive through this pipe, whose write end only the keeper holds.
        keeper_alive_r, keeper_alive_w = os.pipe()
        init = os.fork()
        if init == 0:
            os.close(keeper_alive_w)
            _be_init(spec, report_fd, keeper_alive_r)
        os.close(keeper_alive_r)
        os.write(report_fd, f"pid {init}\n".encode())
        os.close(report_fd)
        signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
        while True:
            try:
                os.waitpid(init, 0)
                break
            except InterruptedError:
                continue
            except ChildProcessError:
                break
    except BaseException as exc:  # the keeper must never return into the supervisor
        try:
            os.write(report_fd, f"error keeper: {exc}\n".encode())
        except OSError:
            pass
    os._exit(0)


def _be_init(spec: dict, report_fd: int, keeper_alive_fd: int) -> None:
    try:
        ns.set_pdeathsig(signal.SIGKILL)
        readable, _, _ = select.select([keeper_alive_fd], [], [], 0)
        if readable:  # end of file: the keeper died before PDEATHSIG was armed
            os._exit(1)
        os.close(keeper_alive_fd)
        set_title(f"kubesalt.lab init {spec['hostname']}")
        ns.unshare(ns.CLONE_NEWNS | ns.CLONE_NEWUTS | ns.CLONE_NEWNET | ns.CLONE_NEWIPC)
        build_root(spec)
    except BaseException as exc:
        message = str(exc).replace("\n", " ")
        os.write(report_fd, f"error {spec['hostname']}: {message}\n".encode())
        os._exit(1)
    os.write(report_fd, b"ready\n")
    os.close(report_fd)
    sys.stdout.flush()
    run_init()


def start_switch(report_fd: int, dns_servers: list[dict] | None = None) -> int:
    """Fork the holder of the lab's switch network namespace; return its pid.

    ``dns_servers``: resolvers (:func:`kubesalt.lab.dns.server_spec`) to run in the switch
    namespace, bound before the holder reports ready; their addresses go on the bridges.
    """
    supervisor = os.getpid()
    holder = os.fork()
    if holder:
        return holder
    try:
        ns.set_pdeathsig(signal.SIGKILL)
        if os.getppid() != supervisor:
            os._exit(1)
        set_title("kubesalt.lab switch")
        ns.unshare(ns.CLONE_NEWNET)
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10)
        if dns_servers:
            _start_resolver(dns_servers, report_fd)
        os.write(report_fd, b"ready\n")
    except BaseException as exc:
        os.write(report_fd, f"error switch: {exc}\n".encode())
        os._exit(1)
    os.close(report_fd)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    # Lives as long as the supervisor: SIGTERM from it, or PDEATHSIG when it dies.
    while True:
        signal.pause()


def _start_resolver(specs: list[dict], report_fd: int) -> int:
    """Fork the lab's resolver in the switch namespace (it dies with the holder). It closes
    the holder's report pipe: the supervisor waits for that pipe's end of file."""
    bound = dns.bind(specs)
    holder = os.getpid()
    pid = os.fork()
    if pid:
        for sock, _zone in bound:
            sock.close()
        return pid
    try:
        os.close(report_fd)
        ns.set_pdeathsig(signal.SIGKILL)
        if os.getppid() != holder:
            os._exit(1)
        set_title("kubesalt.lab dns " + " ".join(a for spec in specs for a in spec["listen"]))
        dns.serve(bound)
    finally:
        os._exit(1)
