"""The simulated cluster agent as its peers and commands see it: join tokens, the client of
other nodes' agents, the replicated cluster state, the daemon's pidfile and stop. The daemon
itself (the agent's server on ADDRESS:25000 and the kube-apiserver on 16443) is
:mod:`kubesalt.sim.microk8s.agentd`.

Public API (shape of microk8s-cluster-agent v2): ``POST /cluster/api/v2.0/join`` and
``POST /cluster/api/v2.0/dqlite/remove``. Simulator-internal endpoints under
``/cluster/api/v2.0/sim/`` replicate the cluster state (dqlite members, node objects, addons)
among control planes and answer readiness probes; they require the cluster's callback token.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import ssl
import time
from concurrent.futures import ThreadPoolExecutor

from kubesalt.sim.microk8s import catalog
from kubesalt.sim.microk8s.host import Host
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
    """An HTTPS connection to IP:PORT from this node's address (so the peer sees our IP);
    a node installed without an address lets the kernel pick the source by its routes (on
    the first control plane the default-route address is public: a packet from it on the
    private port is dropped by port security)."""
    context = ssl._create_unverified_context()  # noqa: S323 - the join CHECK verifies instead
    source = None if host.binds_from_args() else (host.address, 0)
    conn = http.client.HTTPSConnection(
        ip, port, timeout=timeout, context=context, source_address=source
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


def version_tuple(track: str) -> tuple:
    try:
        return tuple(int(part) for part in track.split(".")[:2])
    except ValueError:
        return (99, 0)


# ----------------------------------------------------------------------------- daemon control
def pidfile(host: Host):
    return host.sim_dir / "cluster-agent.pid"


def start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def agent_pid(host: Host) -> int | None:
    """The pid of this node's running agent, or None (a stale pidfile does not count)."""
    try:
        pid_text, started = pidfile(host).read_text().split()
        pid = int(pid_text)
    except (OSError, ValueError):
        return None
    return pid if start_time(pid) == started else None


def owner(host: Host) -> tuple[int, str] | None:
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
    write_file(path, f"{pid} {start_time(pid)}\n")


def stop_agent(host: Host, timeout: float = 5.0) -> None:
    """Stop this node's agent (idempotent); waits until its port is free."""
    pid = agent_pid(host)
    with contextlib.suppress(FileNotFoundError):
        pidfile(host).unlink()
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and start_time(pid) is not None:
        if _is_zombie(pid):
            break
        time.sleep(0.02)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        # Under load the killed daemon may hold its port a moment longer: a restart right
        # after (snap refresh) would find the address in use.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and start_time(pid) is not None and not _is_zombie(pid):
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
