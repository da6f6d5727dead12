"""Instances as lab hosts: the lab cloud's compute and network backing, kept by one daemon.

A cloud made with ``kubesalt cloud up --hosts`` is *backed*: its API state (``cloud.json``) is
mirrored onto lab hosts and networks by ``python -m kubesalt.cloud.instances CLOUD_DIR``, a
detached daemon the provider starts on the first change (:func:`notify`) and ``kubesalt cloud
down`` / ``kubesalt lab down`` stop (:func:`stop`). The daemon re-reads the document whenever
its generation moves and reconciles (:class:`Backing`):

* **networks** → a bridge each in the daemon's switch namespace (:class:`~kubesalt.cloud.fabric.
  Fabric`); **ports** of an instance → its ``ethN`` (NIC order), fixed IP and MAC;
* **instances** → lab hosts built by the lab's own machinery (:func:`kubesalt.lab.hostinit.
  start_host` with :func:`kubesalt.lab.lab.image_spec`): own hostname, PID/mount/UTS/net
  namespaces, a copy-on-write root on a tmpfs of their own. The "image" has Salt installed as
  its Debian packages install it (:func:`kubesalt.lab.lab.packaged_salt_script`, init scripts,
  the ``salt`` user), the MicroK8s simulator's ``snap`` and a copy of the state tree at
  /srv/kubesalt (where the bootstrap looks before cloning). Each host then boots through
  Debian's real cloud-init (:data:`kubesalt.tf.nocloud.CLOUD_INIT_STAGES`) from the data Nova
  gives it (:mod:`kubesalt.cloud.nova`): the OpenStack metadata tree in cloud-init's
  ConfigDrive seed directory when the instance has a config drive *or* can reach the
  metadata service (a routed subnet); nothing (datasource None: no user data) when it can
  reach neither, as on OpenStack. Delete kills the host's PID 1: its namespaces, mounts and
  links go with it. A replaced instance has a new id: a fresh host;
* **volumes** attached at boot → loop devices on sparse files in ``volumes/`` of the cloud
  directory, seen in the host's private /dev as Nova names them (:mod:`kubesalt.cloud.
  volumes`); detached when the instance or the volume goes and when the daemon stops;
* **load balancers** (Octavia) → a namespace each (``lb-<id>``, the amphora) holding the VIP
  port and the member-side ports, running :mod:`kubesalt.cloud.lbproxy` with
  :func:`kubesalt.cloud.octavia.proxy_config`, restarted when that changes; members' health in
  ``loadbalancers/<id>.status.json`` of the cloud directory;
* **routers** → a namespace each with NAT (:func:`kubesalt.cloud.backing.router_fabric`),
  rebuilt when the router, its interfaces or its floating IPs change;
* **security groups** → the switch's filter table, rewritten on every change.

Every process the daemon starts dies with it (PR_SET_PDEATHSIG): killing it takes the cloud's
hosts and networks down, and nothing ever exists on the machine itself.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

from kubesalt.cloud import backing
from kubesalt.cloud import firewall
from kubesalt.cloud import nova
from kubesalt.cloud import octavia
from kubesalt.cloud import volumes
from kubesalt.cloud.fabric import Fabric
from kubesalt.cloud.store import Store
from kubesalt.lab import dns
from kubesalt.lab import hostinit
from kubesalt.lab import lab
from kubesalt.lab import processes
from kubesalt.lab import saltconf
from kubesalt.tf import nocloud

MARKER = "backed"  # a file in the cloud directory: instances become lab hosts
STATUS = "backing.json"
PID_FILE = "backing.pid"
LOG = "backing.log"
SEED_DIR = "/var/lib/cloud/seed/config_drive"
DATASOURCE_CFG_PATH = "/etc/cloud/cloud.cfg.d/90-kubesalt-labcloud.cfg"
# The network is the lab's (the fabric configures each port as Neutron + DHCP would).
DATASOURCE_CFG = "datasource_list: [ConfigDrive, None]\nnetwork: {config: disabled}\n"
BOOT_LOG = "/var/log/kubesalt-boot.log"
# A namespace on the external network, in the lab's operator_cidrs (kubesalt.cloud.workspace):
# where `ssh` through the bastion runs from (its network namespace only).
OPERATOR = "operator"
OPERATOR_IP = "203.0.113.254"
START_TIMEOUT = 30.0
SYNC_TIMEOUT = 180.0


# --------------------------------------------------------------------------- host specs
def host_spec(cloud: dict, server_id: str, mountpoint: pathlib.Path) -> dict:
    """The lab host spec (:func:`kubesalt.lab.hostinit.build_root`) of an instance."""
    server = cloud["servers"][server_id]
    hostname = nova.meta_data(server)["hostname"]
    repo = lab.repo_root()
    spec = lab.image_spec(hostname, mountpoint, repo)
    bin_dir = lab.salt_bin_dir()
    nameservers = dict.fromkeys(
        address
        for port_id in server["ports"]
        for ip in cloud["ports"][port_id]["fixed_ips"]
        for address in cloud["subnets"][ip["subnet_id"]].get("dns_nameservers") or []
    )
    files = spec["files"]
    files["/etc/hosts"] = ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n", 0o644)
    files["/etc/resolv.conf"] = ("".join(f"nameserver {a}\n" for a in nameservers), 0o644)
    files[DATASOURCE_CFG_PATH] = (DATASOURCE_CFG, 0o644)
    # Its own /dev (the volumes' nodes, never the machine's) and udev's stand-in.
    spec["private_dev"] = True
    files[volumes.UDEVADM_PATH] = (volumes.UDEVADM, 0o755)
    if nova.user_data_source(cloud, server_id):
        for path, content in nova.config_drive(cloud, server_id).items():
            files[f"{SEED_DIR}/{path}"] = (content, 0o600 if path.endswith("user_data") else 0o644)
    # Salt's Debian packages (salt-master, salt-minion) as installed on the image.
    files["/etc/salt/master"] = (saltconf.PACKAGED_MASTER_CONFIG, 0o644)
    for service, description, user in (
        ("salt-minion", "Salt minion", None),
        ("salt-master", "Salt master", saltconf.SALT_USER),
    ):
        script = saltconf.init_script(service, str(bin_dir / service), description, user)
        files[f"/etc/init.d/{service}"] = (script, 0o755)
    spec["symlinks"] += saltconf.rc_links("salt-minion") + saltconf.rc_links("salt-master")
    spec["remove"] += ["/var/lib/cloud/instance", "/var/lib/cloud/instances", "/var/lib/cloud/data"]
    return spec


def node_address(cloud: dict, server_id: str) -> str:
    """The address the MicroK8s simulator serves on: the fixed IP on a router-less subnet
    (the cluster's private network), else the first fixed IP."""
    routed = {i["subnet_id"] for r in cloud["routers"].values() for i in r["interfaces"]}
    ips = [
        ip
        for port_id in cloud["servers"][server_id]["ports"]
        for ip in cloud["ports"][port_id]["fixed_ips"]
    ]
    return next((ip for ip in ips if ip["subnet_id"] not in routed), ips[0])["ip_address"]


def boot_script() -> str:
    """What the host runs once started: the image's packaged Salt layout and the MicroK8s
    simulator's ``snap`` (the image's stand-in for snapd, as in ``lab up``), then cloud-init's
    boot stages in order, as a VM's init does (output in :data:`BOOT_LOG`). The simulator is
    told no address: like the real snap it takes the default-route interface's unless its
    launch configuration pins one (on the first control plane that is the public interface:
    Salt must pin the private one, issue 11 defect 9)."""
    stages = [" ".join(stage) for stage in nocloud.CLOUD_INIT_STAGES]
    # The image carries a clone of the state tree where the bootstrap looks before cloning
    # (the repository is unreachable offline). On the master /srv is its volume, mounted by
    # cloud-init's network stage: the clone goes there once that stage has run.
    repo = lab.repo_root()
    tree = f"mkdir -p {saltconf.SRV} && cp -a {repo}/salt {repo}/pillar {saltconf.SRV}/"
    # Debian starts sshd once cloud-init's network stage made its host keys (ssh.service).
    stages = "; ".join([*stages[:2], tree, "service ssh start", *stages[2:]])
    snap = "kubesalt sim microk8s install-snap --root /"
    return f"{{ {lab.packaged_salt_script()}{snap}\n{stages}; }} >{BOOT_LOG} 2>&1\n"


# --------------------------------------------------------------------------- the daemon side
class Backing:
    """The lab side of one cloud; lives in the daemon (see the module's docstring)."""

    def __init__(self, directory: pathlib.Path):
        self.directory = directory
        self.fabric = Fabric()
        self.wiring = backing.Wiring({}, {}, {}, {}, {})
        self.hosts: dict[str, dict] = {}  # server id -> {"keeper", "init", "hostname"}
        self.routers: dict[str, str] = {}  # router id -> what it was built from
        self.balancers: dict[str, dict] = {}  # load balancer id -> {"proxy", "config"}
        self.resolvers: dict[str, dict] = {}  # network id -> {"proxy", "config"}
        self.loops: dict[str, str] = {}  # volume id -> its loop device while attached
        self.attachments: dict[str, str] = {}  # volume id -> server id (the API's)

    def close(self) -> None:
        for host in self.hosts.values():
            _kill(host)
        for volume_id in list(self.loops):
            self._detach(volume_id)
        volumes.detach_all(self.directory)
        for entry in [*self.balancers.values(), *self.resolvers.values()]:
            _stop_proxy(entry)
        self.fabric.close()

    def reconcile(self, cloud: dict) -> dict[str, dict]:
        for network_id, network in sorted(cloud["networks"].items()):
            if network_id not in self.wiring.bridges:
                name = backing.bridge_name(network, set(self.wiring.bridges.values()))
                self.fabric.network(name)
                self.wiring.bridges[network_id] = name
        external = next((n for n, v in cloud["networks"].items() if v.get("external")), None)
        if external and OPERATOR not in self.fabric.endpoints:
            # The operator's machine on the internet side of the floating IPs.
            bridge = self.wiring.bridges[external]
            self.fabric.attach(OPERATOR, bridge, "eth0", f"{OPERATOR_IP}/24")
        self._resolve(cloud)  # before any instance boots and looks a name up
        for server_id in [s for s in self.hosts if s not in cloud["servers"]]:
            self._remove(server_id)
        self._volumes(cloud)
        errors = {}
        for server_id in cloud["servers"]:
            if server_id not in self.hosts:
                try:
                    self._boot(cloud, server_id)
                except Exception as exc:  # reported as the instance's ERROR state
                    errors[server_id] = str(exc)
        self._balance(cloud)
        for router_id in [r for r in self.routers if r not in cloud["routers"]]:
            self.fabric.drop(f"router-{router_id}")
            del self.routers[router_id]
        for router_id, router in cloud["routers"].items():
            built_from = json.dumps([router, cloud["floating_ips"]], sort_keys=True)
            if self.routers.get(router_id) != built_from:
                self.fabric.drop(f"router-{router_id}")
                backing.router_fabric(self.fabric, cloud, router, self.wiring.bridges, self.wiring)
                self.routers[router_id] = built_from
        self.fabric.apply_firewall(firewall.iptables_restore(cloud, self.wiring.bindings))
        status = {s: {"state": "ACTIVE", **h} for s, h in self.hosts.items()}
        if OPERATOR in self.fabric.endpoints:
            status[OPERATOR] = {"state": "ACTIVE", "init": self.fabric.endpoints[OPERATOR].pid}
        status.update({s: {"state": "ERROR", "error": e} for s, e in errors.items()})
        return status

    def _boot(self, cloud: dict, server_id: str) -> None:
        mountpoint = self.directory / "hosts" / server_id
        mountpoint.mkdir(parents=True, exist_ok=True)
        spec = host_spec(cloud, server_id, mountpoint)
        read_fd, write_fd = os.pipe()
        keeper = hostinit.start_host(spec, write_fd)
        os.close(write_fd)
        host = {"keeper": keeper, "init": None, "hostname": spec["hostname"]}
        self.hosts[server_id] = host
        report = _read_report(read_fd, time.monotonic() + START_TIMEOUT)
        for line in report:
            if line.startswith("pid "):
                host["init"] = int(line.split()[1])
        if "ready" not in report or not host["init"]:
            raise RuntimeError(f"{spec['hostname']}: the host did not start: {report}")
        self.fabric.adopt(server_id, host["init"])
        routes = []
        for port_id in cloud["servers"][server_id]["ports"]:
            port = cloud["ports"][port_id]
            routes.append(backing.attach_port(self.fabric, cloud, port, server_id, self.wiring))
        gateway = next((g for g, routed in routes if g and routed), None)
        gateway = gateway or next((g for g, _ in routes if g), None)
        if gateway:
            self.fabric.run(server_id, ["ip", "route", "replace", "default", "via", gateway])
        for attachment in _disks(cloud["servers"][server_id]):
            volume_id = attachment["volume_id"]
            path = volumes.image_path(self.directory, volume_id)
            volumes.ensure_image(path, int(cloud["volumes"][volume_id]["size"]))
            if volume_id not in self.loops:
                self.loops[volume_id] = volumes.attach(path)
            name = attachment["device"].removeprefix("/dev/")
            dev_root = f"/proc/{host['init']}/root/dev"
            volumes.add_disk(dev_root, name, self.loops[volume_id], volume_id)
        # cloud-init runs in the background, as on a booting VM (ACTIVE is not "booted").
        subprocess.Popen(
            lab.host_command(
                host["init"],
                ["setsid", "sh", "-c", boot_script()],
            ),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def _balance(self, cloud: dict) -> None:
        """Each load balancer's amphora: its ports in namespace ``lb-<id>`` (default route
        through the VIP subnet's router) and the proxy with the current configuration."""
        balancers = cloud.get("loadbalancers", {})
        for lb_id in [b for b in self.balancers if b not in balancers]:
            _stop_proxy(self.balancers.pop(lb_id))
            self._forget(f"lb-{lb_id}")
        directory = self.directory / "loadbalancers"
        for lb_id, lb in balancers.items():
            endpoint = f"lb-{lb_id}"
            entry = self.balancers.setdefault(lb_id, {"proxy": None, "config": None})
            for port_id in [lb["vip_port_id"], *lb["member_ports"].values()]:
                if port_id in self.wiring.owners:
                    continue
                port = cloud["ports"][port_id]
                gateway, routed = backing.attach_port(
                    self.fabric, cloud, port, endpoint, self.wiring
                )
                if gateway and routed:
                    self.fabric.run(endpoint, ["ip", "route", "replace", "default", "via", gateway])
            config = octavia.proxy_config(cloud, lb_id)
            if config == entry["config"]:
                continue
            _stop_proxy(entry)
            directory.mkdir(exist_ok=True)
            path = directory / f"{lb_id}.json"
            path.write_text(json.dumps(config, indent=1))
            argv = [sys.executable, "-m", "kubesalt.cloud.lbproxy", str(path)]
            argv.append(str(directory / f"{lb_id}.status.json"))
            with open(directory / f"{lb_id}.log", "ab") as log:
                entry["proxy"] = self.fabric.spawn(
                    endpoint,
                    ["setpriv", "--pdeathsig=KILL", *argv],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                )
            entry["config"] = config

    def _resolve(self, cloud: dict) -> None:
        """Each network's resolver (Neutron's dnsmasq on the DHCP port): namespace
        ``dhcp-<network id>`` holding the DHCP addresses, running :mod:`kubesalt.lab.dns` with
        :func:`kubesalt.cloud.backing.resolver`'s records, restarted when those change."""
        for network_id in [n for n in self.resolvers if n not in cloud["networks"]]:
            _stop_proxy(self.resolvers.pop(network_id))
            self.fabric.drop(f"dhcp-{network_id}")
        directory = self.directory / "resolvers"
        for network_id in sorted(cloud["networks"]):
            addresses, records = backing.resolver(cloud, network_id)
            if not addresses or network_id not in self.wiring.bridges:
                continue
            endpoint = f"dhcp-{network_id}"
            entry = self.resolvers.setdefault(network_id, {"proxy": None, "config": None})
            config = [dns.server_spec([a.split("/")[0] for a in addresses], records)]
            if config == entry["config"]:
                continue
            _stop_proxy(entry)
            if endpoint not in self.fabric.endpoints:
                bridge = self.wiring.bridges[network_id]
                self.fabric.attach(endpoint, bridge, "eth0", addresses[0])
                for extra in addresses[1:]:
                    self.fabric.run(endpoint, ["ip", "addr", "add", extra, "dev", "eth0"])
            directory.mkdir(exist_ok=True)
            path = directory / f"{network_id}.json"
            path.write_text(json.dumps(config, indent=1))
            # not ``-m kubesalt.lab.dns``: kubesalt.lab imports it first (runpy's warning)
            serve = "import sys; from kubesalt.lab import dns; sys.exit(dns.main(sys.argv[1:]))"
            argv = [sys.executable, "-c", serve, str(path)]
            with open(directory / f"{network_id}.log", "ab") as log:
                entry["proxy"] = self.fabric.spawn(
                    endpoint,
                    ["setpriv", "--pdeathsig=KILL", *argv],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                )
            entry["config"] = config

    def _remove(self, server_id: str) -> None:
        host = self.hosts.pop(server_id)
        _kill(host)
        self._forget(server_id)
        for volume_id in [v for v, s in self._attached(server_id) if v in self.loops]:
            self._detach(volume_id)

    def _attached(self, server_id: str) -> list[tuple[str, str]]:
        return [(v, s) for v, s in self.attachments.items() if s == server_id]

    def _volumes(self, cloud: dict) -> None:
        """Detach the volumes no longer attached to a running host; remove the files of the
        volumes the API deleted."""
        self.attachments = {
            a["volume_id"]: server_id
            for server_id, server in cloud["servers"].items()
            for a in _disks(server)
        }
        for volume_id in [v for v in self.loops if v not in self.attachments]:
            self._detach(volume_id)
        for path in (self.directory / "volumes").glob("*.img"):
            if path.stem not in cloud.get("volumes", {}):
                path.unlink()

    def _detach(self, volume_id: str) -> None:
        volumes.detach(self.loops.pop(volume_id))

    def _forget(self, endpoint: str) -> None:
        """Drop ``endpoint``'s namespace and its ports from the wiring."""
        self.fabric.drop(endpoint)
        for port_id in [p for p, o in self.wiring.owners.items() if o == endpoint]:
            self.wiring.owners.pop(port_id)
            self.wiring.bindings.pop(port_id, None)
        self.wiring.addresses = {
            name: value for name, value in self.wiring.addresses.items() if value[0] != endpoint
        }


def _disks(server: dict) -> list[dict]:
    """The server's volumes other than its root disk (vda: the lab host's own root)."""
    return [a for a in server.get("volumes", []) if a["device"] != "/dev/vda"]


def _stop_proxy(entry: dict) -> None:
    process = entry.get("proxy")
    if process is not None:
        process.kill()
        process.wait(timeout=10)
        entry["proxy"] = None


def _kill(host: dict) -> None:
    # SIGKILL to a PID namespace's PID 1 kills everything in it; its namespaces then go.
    for pid in (host.get("init"), host["keeper"]):
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(host["keeper"], 0)


def _read_report(fd: int, deadline: float) -> list[str]:
    import select  # noqa: PLC0415

    data = b""
    while time.monotonic() < deadline:
        readable, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not readable:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
        if b"ready\n" in data or b"error " in data:
            break
    os.close(fd)
    return data.decode(errors="replace").splitlines()


def serve(directory: pathlib.Path) -> int:
    """The daemon: reconcile whenever the document's generation moves, until SIGTERM."""
    store = Store(directory)
    running = open(directory / "backing.run", "a", encoding="utf-8")
    try:
        fcntl.flock(running, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        print(f"another backing daemon serves {directory}", file=sys.stderr)
        return 1
    stopping: list[bool] = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    hostinit.set_title(f"python -m kubesalt.cloud.instances {directory}")
    done = -1
    volumes.detach_all(directory)  # a crashed daemon's
    result = Backing(directory)
    try:
        while not stopping:
            document = store.read()
            generation = document.get("generation", 0)
            if generation != done:
                status = result.reconcile(document)
                _write_status(directory, {"generation": generation, "servers": status})
                done = generation
            _reap()
            time.sleep(0.2)
    finally:
        result.close()
    return 0


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _write_status(directory: pathlib.Path, status: dict) -> None:
    tmp = directory / (STATUS + ".tmp")
    tmp.write_text(json.dumps(status, indent=1))
    tmp.replace(directory / STATUS)


# --------------------------------------------------------------------------- the client side
def is_backed(directory: str | os.PathLike) -> bool:
    return (pathlib.Path(directory) / MARKER).is_file()


def _daemon_pid(directory: pathlib.Path) -> int | None:
    try:
        pid = int((directory / PID_FILE).read_text())
        cmdline = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    ours = b"kubesalt.cloud.instances" in cmdline and os.fsencode(str(directory)) in cmdline
    return pid if ours else None


def _start(directory: pathlib.Path) -> None:
    # What cloud-init's OpenStack detection reads from PID 1's environment in a container.
    env = {"product_name": "OpenStack Nova"}
    process = processes.spawn_daemon(
        "kubesalt.cloud.instances", directory, directory / LOG, env=env
    )
    (directory / PID_FILE).write_text(str(process.pid))
    deadline = time.monotonic() + START_TIMEOUT
    while _daemon_pid(directory) is None:  # until it has exec'd Python (not a forked copy)
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(
                f"the lab cloud's backing daemon did not start: see {directory / LOG}"
            )
        time.sleep(0.02)


def notify(directory: str | os.PathLike, wait_for: str | None = None) -> dict:
    """After a change of a backed cloud: start its daemon if needed and wait (bounded) until it
    has reconciled the current generation. Returns the status of server ``wait_for`` (or {})."""
    root = pathlib.Path(directory).resolve()
    if not is_backed(root):
        return {}
    with open(root / "backing.lock", "a", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # Terraform's parallel operations: one daemon
        if _daemon_pid(root) is None:
            _start(root)
    generation = Store(root).read().get("generation", 0)
    deadline = time.monotonic() + SYNC_TIMEOUT
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            status = json.loads((root / STATUS).read_text())
            if status["generation"] >= generation:
                return status["servers"].get(wait_for, {}) if wait_for else {}
        if _daemon_pid(root) is None:
            raise RuntimeError(f"the lab cloud's backing daemon died: see {root / LOG}")
        time.sleep(0.2)
    raise RuntimeError(f"the lab cloud did not reconcile in {SYNC_TIMEOUT:.0f} s: see {root / LOG}")


def stop(directory: str | os.PathLike, timeout: float = 10.0) -> None:
    """Stop the daemon of a cloud (its hosts and networks die with it); idempotent."""
    root = pathlib.Path(directory).resolve()
    pid = _daemon_pid(root)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _daemon_pid(root) == pid and time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.05)
        if _daemon_pid(root) == pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    volumes.detach_all(root)  # a crashed daemon's (its hosts died with it)
    for name in (PID_FILE, STATUS):
        with contextlib.suppress(FileNotFoundError):
            (root / name).unlink()


def operator_pid(directory: str | os.PathLike) -> int:
    """A process in the operator's network namespace (``nsenter -t PID -n``)."""
    status = json.loads((pathlib.Path(directory) / STATUS).read_text())["servers"]
    return status[OPERATOR]["init"]


def host_pid(directory: str | os.PathLike, server_name: str) -> int:
    """PID 1 of the host of the instance named ``server_name`` (or its short name), for
    :func:`kubesalt.lab.lab.host_command`."""
    root = pathlib.Path(directory).resolve()
    cloud = Store(root).read()
    status = json.loads((root / STATUS).read_text())["servers"]
    for server_id, server in cloud["servers"].items():
        names = {server["name"], server["name"].split(".")[0]}
        if server_name in names and status.get(server_id, {}).get("init"):
            return status[server_id]["init"]
    raise KeyError(f"no running instance named {server_name!r}")


if __name__ == "__main__":
    sys.exit(serve(pathlib.Path(sys.argv[1]).resolve()))
