"""The simulated cluster agent: one HTTPS daemon per node on ADDRESS:25000.

Public API (shape of microk8s-cluster-agent v2): ``POST /cluster/api/v2.0/join`` and
``POST /cluster/api/v2.0/dqlite/remove``. Simulator-internal endpoints under
``/cluster/api/v2.0/sim/`` replicate the cluster state (dqlite members, node objects, addons)
among control planes and answer readiness probes; they require the cluster's callback token.
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import json
import os
import select
import signal
import socket
import ssl
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from kubesalt.sim.microk8s import catalog
from kubesalt.sim.microk8s import cni
from kubesalt.sim.microk8s import launchconf
from kubesalt.sim.microk8s.host import Host
from kubesalt.sim.microk8s.host import roles_of
from kubesalt.sim.microk8s.host import write_file

API = "/cluster/api/v2.0"
TOKEN_HEADER = "X-Sim-Callback-Token"  # noqa: S105 - a header name
PROBE_TIMEOUT = 0.5
PUSH_TIMEOUT = 2.0


# ----------------------------------------------------------------------------- tokens
def is_valid_token(token: str, path) -> tuple[bool, bool]:
    """``util.IsValidToken``: (valid, has TTL); the first line whose token part matches
    decides, a ``|<unix expiry>`` suffix makes it valid until then."""
    token = token.strip()
    if not token:
        return False, False
    try:
        lines = path.read_text().split("\n")
    except OSError:
        return False, False
    for line in lines:
        value, sep, expiry = line.strip().partition("|")
        if value != token:
            continue
        if not sep:
            return True, False
        try:
            return time.time() < int(expiry), True
        except ValueError:
            return False, True
    return False, False


def remove_token(token: str, path) -> None:
    """``util.RemoveToken``: drop the first line that *starts with* the token (quirk: with
    tokens sharing a prefix, that can be another token's line)."""
    lines = path.read_text().split("\n")
    for index, line in enumerate(lines):
        if line.startswith(token):
            del lines[index]
            write_file(path, "\n".join(lines), 0o660)
            return


def consume_token(host: Host, token: str) -> bool:
    """``ConsumeClusterToken``: persistent tokens first (never consumed), then
    cluster-tokens.txt, where a valid token without TTL is removed (single use)."""
    with host.exclusive("tokens"):
        if is_valid_token(token, host.credentials / "persistent-cluster-tokens.txt")[0]:
            return True
        tokens_file = host.credentials / "cluster-tokens.txt"
        valid, has_ttl = is_valid_token(token, tokens_file)
        if valid and not has_ttl:
            remove_token(token.strip(), tokens_file)
        return valid


# ----------------------------------------------------------------------------- client
def connect(host: Host, ip: str, timeout: float, port: int = catalog.CLUSTER_AGENT_PORT):
    """An HTTPS connection to IP:PORT from this node's address (so the peer sees our IP)."""
    context = ssl._create_unverified_context()  # noqa: S323 - the join CHECK verifies instead
    conn = http.client.HTTPSConnection(
        ip, port, timeout=timeout, context=context, source_address=(host.address, 0)
    )
    try:
        conn.connect()
    except OSError as err:
        if err.errno != 99:  # EADDRNOTAVAIL: our address is not local here; go without it
            raise
        conn = http.client.HTTPSConnection(ip, port, timeout=timeout, context=context)
        conn.connect()
    return conn


def call(host: Host, ip: str, method: str, path: str, body=None, *, token=None, timeout=5.0):
    """One JSON request to a peer agent; returns (status, decoded body)."""
    conn = connect(host, ip, timeout)
    try:
        headers = {"Content-type": "application/json", "Accept": "application/json"}
        if token:
            headers[TOKEN_HEADER] = token
        payload = json.dumps(body) if body is not None else None
        conn.request(method, path, payload, headers)
        response = conn.getresponse()
        raw = response.read().decode() or "{}"
        try:
            return response.status, json.loads(raw)
        except ValueError:
            return response.status, {"error": raw}
    finally:
        conn.close()


def probe(host: Host, ip: str, timeout: float = PROBE_TIMEOUT) -> dict | None:
    """Ask a node's agent how it is; None when it does not answer in time."""
    try:
        status, body = call(host, ip, "GET", f"{API}/sim/ping", timeout=timeout)
    except (OSError, http.client.HTTPException, ssl.SSLError):
        return None
    return body if status == 200 else None


def push_state(host: Host, state: dict, skip=()) -> None:
    """Replicate STATE to every other dqlite member (best effort, bounded, in parallel)."""
    targets = []
    for member in state.get("members", []):
        ip = member["address"].rsplit(":", 1)[0]
        if ip in ("127.0.0.1", host.address) or ip in skip:
            continue
        targets.append(ip)
    if not targets:
        return

    def send(ip):
        with contextlib.suppress(OSError, http.client.HTTPException, ssl.SSLError):
            call(
                host,
                ip,
                "POST",
                f"{API}/sim/state",
                state,
                token=state["callback_token"],
                timeout=PUSH_TIMEOUT,
            )

    with ThreadPoolExecutor(max_workers=min(8, len(targets))) as pool:
        list(pool.map(send, targets))


def pull_state(host: Host) -> None:
    """Catch up after downtime: take the newest copy of the cluster state among the other
    members (same cluster, higher generation), asking them in parallel with a short timeout."""
    local = host.load_state()
    if not local or host.is_worker():
        return
    peers = [
        m["address"].rsplit(":", 1)[0]
        for m in local.get("members", [])
        if m["address"].rsplit(":", 1)[0] not in ("127.0.0.1", host.address)
    ]
    if not peers:
        return

    def fetch(ip):
        try:
            status, body = call(
                host,
                ip,
                "GET",
                f"{API}/sim/state",
                token=local["callback_token"],
                timeout=PUSH_TIMEOUT,
            )
        except (OSError, http.client.HTTPException, ssl.SSLError):
            return None
        return body if status == 200 and isinstance(body, dict) else None

    with ThreadPoolExecutor(max_workers=min(8, len(peers))) as pool:
        copies = [c for c in pool.map(fetch, peers) if c]
    with host.exclusive("state"):
        current = host.load_state() or local
        for copy in copies:
            if copy.get("cluster_id") == current.get("cluster_id") and int(
                copy.get("generation", 0)
            ) > int(current.get("generation", 0)):
                current = copy
        host.save_state(current)


def mutate(host: Host, change) -> dict:
    """Apply CHANGE(state) to this node's copy of the cluster state, bump the generation,
    save, and replicate to the other members. Returns the new state."""
    with host.exclusive("state"):
        state = host.load_state() or host.fresh_state()
        change(state)
        state["generation"] = int(state.get("generation", 0)) + 1
        host.save_state(state)
    push_state(host, state)
    return state


def remove_member(state: dict, ip: str) -> bool:
    before = len(state["members"])
    state["members"] = [m for m in state["members"] if not m["address"].startswith(f"{ip}:")]
    return len(state["members"]) != before


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


def version_tuple(track: str) -> tuple:
    try:
        return tuple(int(part) for part in track.split(".")[:2])
    except ValueError:
        return (99, 0)


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


class AgentServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, host: Host):
        self.host = host
        self._context = None
        self._cert_mtime = None
        super().__init__((host.address, catalog.CLUSTER_AGENT_PORT), Handler)

    def ssl_context(self) -> ssl.SSLContext:
        """The server certificate, reloaded when it changes (refresh-certs, join, leave)."""
        cert = self.host.certs / "server.crt"
        mtime = cert.stat().st_mtime_ns
        if self._context is None or mtime != self._cert_mtime:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(cert), str(self.host.certs / "server.key"))
            self._context, self._cert_mtime = context, mtime
        return self._context

    def get_request(self):
        sock, addr = self.socket.accept()
        sock.settimeout(10)
        return self.ssl_context().wrap_socket(
            sock, server_side=True, do_handshake_on_connect=False
        ), addr

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (ssl.SSLError, ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


# ----------------------------------------------------------------------------- daemon control
def _pidfile(host: Host):
    return host.sim_dir / "cluster-agent.pid"


def _start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def agent_pid(host: Host) -> int | None:
    """The pid of this node's running agent, or None (a stale pidfile does not count)."""
    try:
        pid_text, started = _pidfile(host).read_text().split()
        pid = int(pid_text)
    except (OSError, ValueError):
        return None
    return pid if _start_time(pid) == started else None


def _owner(host: Host) -> tuple[int, str] | None:
    """The (pid, start time) of the process owning this host, if one registered."""
    try:
        pid, started = (host.sim_dir / "owner").read_text().split()
        return int(pid), started
    except (OSError, ValueError):
        return None


def set_owner(host: Host, pid: int | None) -> None:
    """Tie this host's daemons to process PID (None: no owner, they live until stopped)."""
    path = host.sim_dir / "owner"
    if pid is None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return
    write_file(path, f"{pid} {_start_time(pid)}\n")


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
        os.write(ready_fd, f"cannot listen on {host.address}:25000: {err}\n".encode())
        return
    mine = f"{os.getpid()} {_start_time(os.getpid())}"
    write_file(_pidfile(host), mine + "\n")
    owner = _owner(host)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))

    def watchdog():
        # Exit when the host root disappears, the snap is removed, we are replaced, or the
        # process that owns the host (a test run) is gone, even if it died without cleanup.
        while True:
            time.sleep(0.5)
            try:
                current = _pidfile(host).read_text().strip()
            except OSError:
                current = ""
            gone = owner is not None and _start_time(owner[0]) != owner[1]
            if current != mine or not host.data.exists() or gone:
                os._exit(0)

    threading.Thread(target=watchdog, daemon=True).start()
    threading.Thread(target=_launch_configurations, args=(host,), daemon=True).start()
    print(f"cluster agent {host.hostname} listening on {host.address}:25000", flush=True)
    os.write(ready_fd, b"ok\n")
    os.close(ready_fd)
    server.serve_forever(poll_interval=0.5)


def _launch_configurations(host: Host) -> None:  # pragma: no cover - runs in the daemon
    """Apply pending launch configurations now and every 5 s (``--launch-configurations-
    interval``), as the real agent does."""
    while True:
        try:
            launchconf.apply_pending(host)
        except Exception as exc:
            print(f"launch configurations: {exc!r}", file=sys.stderr, flush=True)
        time.sleep(5)


def stop_agent(host: Host, timeout: float = 5.0) -> None:
    """Stop this node's agent (idempotent); waits until its port is free."""
    pid = agent_pid(host)
    with contextlib.suppress(FileNotFoundError):
        _pidfile(host).unlink()
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _start_time(pid) is not None:
        if _is_zombie(pid):
            break
        time.sleep(0.02)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        # Under load the killed daemon may hold its port a moment longer: a restart right
        # after (snap refresh) would find the address in use.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _start_time(pid) is not None and not _is_zombie(pid):
            time.sleep(0.02)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def port_open(address: str, timeout: float = 0.3) -> bool:
    with (
        contextlib.suppress(OSError),
        socket.create_connection((address, catalog.CLUSTER_AGENT_PORT), timeout=timeout),
    ):
        return True
    return False
