"""The daemon of a simulated node's services: the cluster agent on ADDRESS:25000 and, on a
control plane, the kube-apiserver on ADDRESS:16443 (:mod:`kubesalt.sim.microk8s.apiserver`).

One process a node, as the snap's services: it runs while the node's services run (``snap
start``, ``microk8s start``, install) and is gone while they are stopped (``microk8s stop``,
``snap stop``, a refresh), so both ports refuse connections then. It applies pending launch
configurations every 5 s, as the real agent does.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import select
import signal
import sys
import threading
import time

from kubesalt.sim.microk8s import apiserver
from kubesalt.sim.microk8s import catalog
from kubesalt.sim.microk8s import cni
from kubesalt.sim.microk8s import launchconf
from kubesalt.sim.microk8s.agent import API
from kubesalt.sim.microk8s.agent import TOKEN_HEADER
from kubesalt.sim.microk8s.agent import agent_pid
from kubesalt.sim.microk8s.agent import consume_token
from kubesalt.sim.microk8s.agent import mutate
from kubesalt.sim.microk8s.agent import owner as host_owner
from kubesalt.sim.microk8s.agent import pidfile
from kubesalt.sim.microk8s.agent import remove_member
from kubesalt.sim.microk8s.agent import start_time
from kubesalt.sim.microk8s.agent import version_tuple
from kubesalt.sim.microk8s.host import Host
from kubesalt.sim.microk8s.host import roles_of
from kubesalt.sim.microk8s.host import write_file
from kubesalt.sim.microk8s.tlsserver import NodeTLSServer


# ----------------------------------------------------------------------------- server
class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "cluster-agent"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # to the agent log, without tokens (paths only)
        sys.stderr.write(f"{self.client_address[0]} {fmt % args}\n")

    @property
    def host(self) -> Host:
        return self.server.host

    def reply(self, status: int, body) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def error(self, status: int, message: str) -> None:
        self.reply(status, {"error": message[:1].upper() + message[1:]})

    def body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        try:
            value = json.loads(raw or b"{}")
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    def authorised(self) -> bool:
        state = self.host.load_state() or {}
        token = self.headers.get(TOKEN_HEADER, "")
        return bool(token) and token == state.get("callback_token")

    def do_GET(self):
        if self.path == f"{API}/sim/ping":
            state = self.host.load_state() or {}
            self.reply(
                200,
                {
                    "hostname": self.host.hostname,
                    "cluster_id": state.get("cluster_id"),
                    "stopped": self.host.is_stopped(),
                    "ready": self.host.is_ready(),
                    "version": (self.host.snap_meta() or {}).get("version", ""),
                },
            )
        elif self.path == f"{API}/sim/state":
            if not self.authorised():
                return self.error(401, "invalid callback token")
            self.reply(200, self.host.load_state())
        else:
            self.error(404, "not found")

    def do_POST(self):
        body = self.body()
        if self.path == f"{API}/join":
            return self.join(body)
        if self.path == f"{API}/dqlite/remove":
            return self.remove_from_dqlite(body)
        if not self.authorised():
            return self.error(401, "invalid callback token")
        if self.path == f"{API}/sim/state":
            with self.host.exclusive("state"):
                local = self.host.load_state() or {}
                newer = body.get("cluster_id") == local.get("cluster_id") and int(
                    body.get("generation", 0)
                ) > int(local.get("generation", 0))
                if newer:
                    self.host.save_state(body)
            return self.reply(200, {"accepted": newer})
        if self.path == f"{API}/sim/register":
            return self.register(body)
        return self.error(404, "not found")

    def remove_from_dqlite(self, body: dict) -> None:
        """``POST v2/dqlite/remove``: CAPI's auth token (ROOT/capi/etc/token) in the
        ``capi-auth-token`` header, or the cluster's callback token (used by ``leave``)."""
        if not self.authorised():
            token = self.headers.get("capi-auth-token", "")
            try:
                expected = self.host.path("capi/etc/token").read_text().strip()
            except OSError as exc:
                return self.error(
                    500,
                    "failed to remove from dqlite: failed to validate CAPI auth token: "
                    f"failed to read token file: {exc}",
                )
            if token != expected:
                return self.error(
                    401, f'failed to remove from dqlite: invalid CAPI auth token "{token}"'
                )
        endpoint = str(body.get("remove_endpoint", ""))
        ip = endpoint.rsplit(":", 1)[0]
        removed = []
        mutate(self.host, lambda state: removed.append(remove_member(state, ip)))
        if not removed[0]:
            return self.error(
                500,
                f"failed to remove from dqlite: failed to remove node {endpoint}: "
                "no such node in the dqlite cluster",
            )
        return self.reply(200, None)

    def join(self, body: dict) -> None:
        host = self.host
        track = (host.snap_meta() or {}).get("track", catalog.DEFAULT_TRACK)
        joiner_ip = self.client_address[0]
        contacted_ip = self.connection.getsockname()[0]
        if not consume_token(host, str(body.get("token", ""))):
            return self.error(500, "invalid token")
        if host.take_join_failure():
            return self.error(
                500, "failed to join the dqlite cluster: simulated fault (knob fail_joins)"
            )
        if not host.has_lock("ha-cluster"):
            return self.error(501, "not possible to join. This is not an HA MicroK8s cluster")
        # The request carries the port as a string, compared with our --bind port as text.
        if str(body.get("port")) != str(catalog.CLUSTER_AGENT_PORT):
            return self.error(
                502,
                f"the port of the cluster agent port has to be set to {catalog.CLUSTER_AGENT_PORT}",
            )
        if joiner_ip == contacted_ip:
            return self.error(
                503, f"the joining node has the same IP ({joiner_ip}) as the node we contact"
            )
        hostname = str(body.get("hostname", ""))
        if not prefers_internal_ip(host) and joiner_ip not in resolve_in_hosts(host, hostname):
            return self.error(
                400,
                f"the hostname ({hostname}) of the joining node does not resolve to the IP "
                f'"{joiner_ip}". Refusing join',
            )
        worker = body.get("worker") is True or body.get("worker") == "as-worker"
        refusal = []

        def rebind(state):
            if any(m["address"].startswith(f"{joiner_ip}:") for m in state["members"]):
                if version_tuple(track) >= (1, 29):
                    refusal.append(
                        (
                            500,
                            "failed to retrieve dqlite cluster nodes: the joining node "
                            f"({joiner_ip}) is already known to dqlite",
                        )
                    )
                else:
                    refusal.append(
                        (504, f"the joining node ({joiner_ip}) is already known to dqlite")
                    )
                return
            for member in state["members"]:
                if member["address"].startswith("127.0.0.1:"):
                    # First join: dqlite rebinds from loopback to the address contacted.
                    member["address"] = f"{contacted_ip}:{catalog.DQLITE_PORT}"

        state = mutate(host, rebind)
        if refusal:
            return self.error(*refusal[0])
        host.set_lock("no-cert-reissue")
        cni.patch_autodetect(host, joiner_ip)
        self.reply(200, join_payload(host, state, joiner_ip, worker))

    def register(self, body: dict) -> None:
        """A joined node reports in: dqlite membership (control planes) and its node object."""
        ip = self.client_address[0]
        hostname = str(body.get("hostname") or ip).lower()
        worker = bool(body.get("worker"))

        def add(state):
            if not worker and not any(m["address"].startswith(f"{ip}:") for m in state["members"]):
                state["members"].append(
                    {"address": f"{ip}:{catalog.DQLITE_PORT}", "hostname": hostname}
                )
            state["nodes"] = [n for n in state["nodes"] if n["name"] != hostname]
            state["nodes"].append(
                {
                    "name": hostname,
                    "address": ip,
                    "role": "worker" if worker else "control-plane",
                    "created": time.time(),
                    "version": str(body.get("version") or ""),
                }
            )

        self.reply(200, mutate(self.host, add))


def prefers_internal_ip(host: Host) -> bool:
    """kube-apiserver's ``--kubelet-preferred-address-types`` lists InternalIP before Hostname
    (the default since 1.28): then the join skips the hostname check."""
    try:
        args = (host.data / "args/kube-apiserver").read_text().split()
    except OSError:
        return True
    for arg in args:
        if arg.startswith("--kubelet-preferred-address-types="):
            types = arg.split("=", 1)[1].split(",")
            if "Hostname" not in types:
                return True
            return "InternalIP" in types and types.index("InternalIP") < types.index("Hostname")
    return False  # kube-apiserver's own default order puts Hostname first


def resolve_in_hosts(host: Host, hostname: str) -> set:
    """The addresses HOSTNAME has in the control plane's /etc/hosts (the fix users apply);
    DNS is not consulted, so the simulator never waits on a resolver."""
    addresses = set()
    try:
        lines = host.path("etc/hosts").read_text().splitlines()
    except OSError:
        return addresses
    for line in lines:
        fields = line.split("#", 1)[0].split()
        if len(fields) > 1 and hostname.lower() in (f.lower() for f in fields[1:]):
            addresses.add(fields[0])
    return addresses


def join_payload(host: Host, state: dict, joiner_ip: str, worker: bool) -> dict:
    """The JoinResponse of cluster-agent v2, with its omitempty fields left out when empty."""

    def read(path):
        with contextlib.suppress(OSError):
            return path.read_text()
        return ""

    backend = host.data / "var/kubernetes/backend"
    payload = {
        "ca": read(host.certs / "ca.crt"),
        "callback_token": state["callback_token"],
        "apiport": str(catalog.API_SERVER_PORT),
        "api_authz_mode": "AlwaysAllow",
        "kubelet_args": read(host.data / "args/kubelet"),
        "hostname_override": joiner_ip,
        "service_account_key": "",
        "ca_key": None,
        "control_plane_nodes": None,
        "cluster_cidr": cni.cluster_cidr(host),
    }
    if worker:
        payload["control_plane_nodes"] = [
            n["address"] for n in state["nodes"] if n["role"] == "control-plane"
        ]
    else:
        payload["ca_key"] = read(host.certs / "ca.key")
        payload["service_account_key"] = read(host.certs / "serviceaccount.key")
        payload["cluster_cert"] = read(backend / "cluster.crt")
        payload["cluster_key"] = read(backend / "cluster.key")
        payload["voters"] = [a for a, role in roles_of(state["members"]) if role == "voter"]
    return payload


class AgentServer(NodeTLSServer):
    def __init__(self, host: Host):
        super().__init__(host, catalog.CLUSTER_AGENT_PORT, Handler, host.agent_bind_address())


def start_agent(host: Host, timeout: float = 15.0) -> None:
    """Start the agent (double fork, setsid, stdio to the log, pidfile); returns once it
    listens. Does nothing when it already runs or the ``agent_unreachable`` knob is set."""
    if agent_pid(host) or host.knobs()["agent_unreachable"]:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    read_fd, write_fd = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the daemon
        os.close(read_fd)
        try:
            os.setsid()
            if os.fork() > 0:
                os._exit(0)
            _run_daemon(host, write_fd)
        finally:
            os._exit(0)
    os.close(write_fd)
    os.waitpid(child, 0)
    message = b""
    deadline = time.monotonic() + timeout
    with os.fdopen(read_fd, "rb") as pipe:
        while time.monotonic() < deadline and not message.endswith(b"\n"):
            ready, _, _ = select.select([pipe], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            chunk = os.read(pipe.fileno(), 4096)
            if not chunk:
                break
            message += chunk
    text = message.decode(errors="replace").strip()
    if text != "ok":
        raise RuntimeError(f"cluster agent on {host.address} did not start: {text or 'timeout'}")


def _run_daemon(host: Host, ready_fd: int) -> None:  # pragma: no cover - runs in the daemon
    os.chdir("/")
    host.sim_dir.mkdir(parents=True, exist_ok=True)
    log = os.open(host.sim_dir / "cluster-agent.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    sys.stdout = os.fdopen(1, "w", buffering=1)
    sys.stderr = os.fdopen(2, "w", buffering=1)
    try:
        server = AgentServer(host)
    except OSError as err:
        os.write(ready_fd, f"cannot listen on {host.agent_bind_address()}:25000: {err}\n".encode())
        return
    mine = f"{os.getpid()} {start_time(os.getpid())}"
    write_file(pidfile(host), mine + "\n")
    owner = host_owner(host)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))

    def watchdog():
        # Exit when the host root disappears, the snap is removed, we are replaced, or the
        # process that owns the host (a test run) is gone, even if it died without cleanup.
        while True:
            time.sleep(0.5)
            try:
                current = pidfile(host).read_text().strip()
            except OSError:
                current = ""
            gone = owner is not None and start_time(owner[0]) != owner[1]
            if current != mine or not host.data.exists() or gone:
                os._exit(0)

    threading.Thread(target=watchdog, daemon=True).start()
    threading.Thread(target=_launch_configurations, args=(host,), daemon=True).start()
    api = APIServerSwitch(host)
    api.follow()
    threading.Thread(target=api.follow_forever, daemon=True).start()
    print(f"cluster agent {host.hostname} on {host.agent_bind_address()}:25000", flush=True)
    os.write(ready_fd, b"ok\n")
    os.close(ready_fd)
    server.serve_forever(poll_interval=0.5)


class APIServerSwitch:
    """The kube-apiserver runs on control planes only: started with the daemon, stopped when
    the node joins as a worker, started again when it leaves (checked every 0.5 s)."""

    def __init__(self, host: Host):
        self.host = host
        self.server = None

    def follow(self) -> None:
        wanted = not self.host.is_worker()
        if wanted and self.server is None:
            try:
                server = apiserver.APIServer(self.host)
            except OSError as err:
                port = catalog.API_SERVER_PORT
                print(f"cannot listen on {self.host.address}:{port}: {err}", flush=True)
                return
            threading.Thread(target=server.serve_forever, args=(0.5,), daemon=True).start()
            self.server = server
            print(f"kube-apiserver listening on {self.host.address}:16443", flush=True)
        elif not wanted and self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def follow_forever(self) -> None:  # pragma: no cover - runs in the daemon
        while True:
            time.sleep(0.5)
            try:
                self.follow()
            except Exception as exc:
                print(f"kube-apiserver: {exc!r}", file=sys.stderr, flush=True)


def _launch_configurations(host: Host) -> None:  # pragma: no cover - runs in the daemon
    """Apply pending launch configurations now and every 5 s (``--launch-configurations-
    interval``), as the real agent does."""
    while True:
        try:
            launchconf.apply_pending(host)
        except Exception as exc:
            print(f"launch configurations: {exc!r}", file=sys.stderr, flush=True)
        time.sleep(5)
