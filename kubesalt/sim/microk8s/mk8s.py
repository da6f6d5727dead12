"""The simulated ``microk8s`` command: dispatch, guards and every subcommand we model.

Texts, streams and exit codes follow docs/reference/microk8s.md and the upstream wrappers
and scripts (canonical/microk8s ``microk8s-resources/wrappers``, ``scripts/wrappers``).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import ipaddress
import json
import os
import shutil
import ssl
import sys
import time

import yaml

from kubesalt.sim.microk8s import agent
from kubesalt.sim.microk8s import agentd
from kubesalt.sim.microk8s import catalog
from kubesalt.sim.microk8s import certs
from kubesalt.sim.microk8s import cni
from kubesalt.sim.microk8s import launchconf
from kubesalt.sim.microk8s.host import Host
from kubesalt.sim.microk8s.host import roles_of
from kubesalt.sim.microk8s.host import write_file
from kubesalt.sim.microk8s.mk8s_addons import cmd_addons
from kubesalt.sim.microk8s.mk8s_addons import cmd_disable
from kubesalt.sim.microk8s.mk8s_addons import cmd_enable
from kubesalt.sim.microk8s.mk8s_common import Exit
from kubesalt.sim.microk8s.mk8s_common import addon_status
from kubesalt.sim.microk8s.mk8s_common import available_addons
from kubesalt.sim.microk8s.mk8s_common import click_usage
from kubesalt.sim.microk8s.mk8s_common import cluster_ready
from kubesalt.sim.microk8s.mk8s_common import dqlite_info
from kubesalt.sim.microk8s.mk8s_common import err
from kubesalt.sim.microk8s.mk8s_common import out
from kubesalt.sim.microk8s.mk8s_common import services_active
from kubesalt.sim.microk8s.mk8s_common import state_of
from kubesalt.sim.microk8s.mk8s_common import stopped_guard
from kubesalt.sim.microk8s.mk8s_common import track
from kubesalt.sim.microk8s.mk8s_common import wait_for_ready
from kubesalt.sim.microk8s.mk8s_common import worker_guard
from kubesalt.sim.microk8s.mk8s_dbctl import cmd_dbctl
from kubesalt.sim.microk8s.mk8s_kubectl import cmd_kubectl

SUBCOMMANDS = (
    "add-node",
    "addons",
    "config",
    "ctr",
    "dbctl",
    "disable",
    "enable",
    "helm",
    "helm3",
    "images",
    "istioctl",
    "join",
    "kubectl",
    "leave",
    "linkerd",
    "refresh-certs",
    "remove-node",
    "reset",
    "start",
    "status",
    "stop",
    "version",
)


def help_text() -> None:
    out("Available subcommands are:")
    for name in SUBCOMMANDS:
        out(f"\t{name}")
    out("\tinspect")


def main(host: Host, args: list) -> int:
    if not host.installed():
        err("microk8s: command not found (the simulated snap is not installed)")
        return 127
    if not args:
        help_text()
        return 1
    sub, rest = args[0], args[1:]
    if sub in ("help", "--help", "-h"):
        help_text()
        return 0
    handler = COMMANDS.get(sub)
    if handler is None:
        out(f"'{sub}' is not a valid MicroK8s subcommand.")
        help_text()
        return 1
    try:
        return handler(host, rest)
    except Exit as done:
        return done.code


# ----------------------------------------------------------------------------- status
def cmd_status(host: Host, args: list) -> int:
    worker_guard(host, catalog.WORKER_PREFIX, "Please use the control plane node.", code=0)
    if host.is_stopped():
        out(catalog.STOPPED)  # the Python exit_if_stopped: stdout, exit 0
        return 0
    parser = argparse.ArgumentParser(
        description="Microk8s cluster status check.", prog="microk8s status"
    )
    parser.add_argument("--format", default="pretty", choices=["pretty", "yaml", "short"])
    parser.add_argument("-w", "--wait-ready", action="store_true")
    parser.add_argument("-t", "--timeout", type=int, default=0)
    parser.add_argument("-a", "--addon", default="all")
    parser.add_argument("--yaml", action="store_true")
    opts = parser.parse_args(args)
    ready = wait_for_ready(host, opts.timeout) if opts.wait_ready else cluster_ready(host)
    addons = available_addons(host)
    if opts.addon != "all":
        addons = [a for a in addons if opts.addon in (a["name"], f"{a['repository']}/{a['name']}")]
    enabled, disabled = addon_status(host, addons, ready)
    if opts.addon != "all":
        out("enabled" if enabled else "disabled")
    elif opts.format == "yaml":
        print_yaml(host, ready, enabled, disabled)
    elif opts.format == "short":
        print_short(ready, enabled, disabled)
    elif opts.yaml:
        print_short_yaml(ready, enabled, disabled)
    else:
        print_pretty(host, ready, enabled, disabled)
    return 0 if ready else 1


def print_short(ready, enabled, disabled) -> None:
    if not ready:
        out(catalog.NOT_RUNNING)
        return
    out("microk8s is running", "addons:")
    for addon in enabled:
        out(f"{addon['repository']}/{addon['name']}: enabled")
    for addon in disabled:
        out(f"{addon['repository']}/{addon['name']}: disabled")


def print_pretty(host, ready, enabled, disabled) -> None:
    if not ready:
        out(catalog.NOT_RUNNING)
        return
    out("microk8s is running")
    if not host.has_lock("ha-cluster"):
        out("high-availability: no")
    else:
        info = dqlite_info(host)
        voters = [address for address, role in info if role == "voter"]
        standby = [address for address, role in info if role == "standby"]
        out("high-availability: yes" if len(voters) > 2 else "high-availability: no")
        out(f"  datastore master nodes: {' '.join(voters) or 'none'}")
        out(f"  datastore standby nodes: {' '.join(standby) or 'none'}")
    out("addons:")
    line = "{:>3} {:<20} # ({}) {}"
    if enabled:
        out("  enabled:")
        for a in enabled:
            out(line.format("", a["name"], a["repository"], a["description"]))
    if disabled:
        out("  disabled:")
        for a in disabled:
            out(line.format("", a["name"], a["repository"], a["description"]))


def print_short_yaml(ready, enabled, disabled) -> None:
    out("microk8s:", f"  running: {ready}")
    if ready:
        out("addons:")
        for a in enabled:
            out(f"  {a['repository']}/{a['name']}: enabled")
        for a in disabled:
            out(f"  {a['repository']}/{a['name']}: disabled")
    else:
        out(f"  message: {catalog.NOT_RUNNING}")


def print_yaml(host, ready, enabled, disabled) -> None:
    # Hand-printed like status.py, quirks included ("version:  " when empty, message nested).
    out("microk8s:", f"  running: {ready}", "high-availability:")
    ha = host.has_lock("ha-cluster")
    out(f"  enabled: {ha}")
    if ha:
        out("  nodes:")
        for address, role in dqlite_info(host):
            out(f"    - address: {address}", f"      role: {role}")
    if ready:
        out("addons:")
        for group, status in ((enabled, "enabled"), (disabled, "disabled")):
            for a in group:
                out(
                    f"  - name: {a['name']}",
                    f"    repository: {a['repository']}",
                    f"    description: {a['description']}",
                    "    version: {:<1}".format(str(a.get("version") or "")),
                    f"    status: {status}",
                )
    else:
        out(f"  message: {catalog.NOT_RUNNING}")


# ----------------------------------------------------------------------------- add-node
def cmd_add_node(host: Host, args: list) -> int:
    worker_guard(
        host,
        f"{catalog.WORKER_PREFIX} Please use the microk8s add-node on the master.",
        code=1,
    )
    parser = argparse.ArgumentParser(
        description="Produce a connection string for a node to join the cluster.",
        prog="microk8s add-node",
    )
    parser.add_argument("--token-ttl", "-l", type=int, default="-1")
    parser.add_argument("--token", "-t")
    parser.add_argument(
        "--format",
        default="pretty",
        choices=["pretty", "short", "token", "token-check", "json", "yaml"],
    )
    if any("help" in arg for arg in args):
        parser.print_help()
        return 0
    stopped_guard(host)
    tokens_file = host.credentials / "cluster-tokens.txt"
    if not tokens_file.exists():
        write_file(tokens_file, "", 0o660)
    opts = parser.parse_args(args)
    token = opts.token if opts.token is not None else os.urandom(16).hex()
    if len(token) < 32:
        out("Invalid token size.  It must be 32 characters long.")
        return 1
    with host.exclusive("tokens"), open(tokens_file, "a+", encoding="utf-8") as tokens:
        if opts.token_ttl != -1:
            tokens.write(f"{token}|{round(time.time()) + opts.token_ttl}\n")
        else:
            tokens.write(f"{token}\n")
    check = certs.fingerprint(host)
    port = catalog.CLUSTER_AGENT_PORT
    default_ip, all_ips = host.address, certs.node_ips(host)
    if opts.format == "pretty":
        out(
            "From the node you wish to join to this cluster, run the following:",
            f"microk8s join {default_ip}:{port}/{token}/{check}\n",
        )
        if host.has_lock("ha-cluster"):  # is_node_running_dqlite
            out(
                "Use the '--worker' flag to join a node as a worker not running the control "
                "plane, eg:",
                f"microk8s join {default_ip}:{port}/{token}/{check} --worker\n",
            )
        out(
            "If the node you are adding is not reachable through the default interface you "
            "can use one of the following:"
        )
        for ip in all_ips:
            out(f"microk8s join {ip}:{port}/{token}/{check}")
    elif opts.format == "short":
        out(f"microk8s join {default_ip}:{port}/{token}/{check}")
        for ip in all_ips:
            if ip != default_ip or track(host) < (1, 30):
                out(f"microk8s join {ip}:{port}/{token}/{check}")
    elif opts.format == "token-check":
        out(f"{token}/{check}")
    elif opts.format in ("json", "yaml"):
        info = {
            "token": f"{token}/{check}",
            "urls": [f"{ip}:{port}/{token}/{check}" for ip in all_ips],
        }
        out(json.dumps(info, indent=2) if opts.format == "json" else yaml.dump(info, indent=2))
    else:
        out(token)
    return 0


# ----------------------------------------------------------------------------- join
JOIN_USAGE = "[OPTIONS] CONNECTION"


def valid_connection_parts(connection: str) -> list:
    """``get_valid_connection_parts`` (1.29+); raises ValueError with the reason."""
    expected = "Expected format: <master_IP>:<master_PORT>/<token>[/<fingerprint>]"
    parts = connection.split("/")
    if len(parts) not in (2, 3):
        raise ValueError(expected)
    endpoint = parts[0].split(":")
    if len(endpoint) != 2:
        raise ValueError(expected)
    try:
        ipaddress.ip_address(endpoint[0])
    except ValueError:
        raise ValueError("Invalid master IP") from None
    try:
        port = int(endpoint[1])
    except ValueError:
        raise ValueError("Master PORT not a number") from None
    if port < 1 or port > 65535:
        raise ValueError("Master PORT not in range 1:65535")
    if len(parts[1]) < 32:
        raise ValueError("Cluster token size should be at least 32 bytes")
    if len(parts) == 3 and len(parts[2]) < 12:
        raise ValueError("Fingerprint should be at least 12 bytes")
    return parts


def cmd_join(host: Host, args: list) -> int:
    if (host.common / "default-storage").is_dir():
        out("WARNING: Hostpath storage is enabled and is not suitable for multi node clusters.", "")
    positional, worker, skip_verify = [], False, False
    for arg in args:
        if arg in ("-h", "--help"):
            out(
                "Usage: microk8s join [OPTIONS] CONNECTION",
                "",
                "  Join the node to a cluster",
                "",
                "  CONNECTION: the cluster connection endpoint in format <master>:<port>/<token>",
                "",
                "Options:",
                "  --worker                    Join as a worker only node.",
                "  --controlplane              Join running the control plane on HA clusters.",
                "                              (default)",
                "  --skip-verify               Skip the certificate verification of the node we",
                "                              are joining to. (default: false)",
                "  --disable-low-memory-guard  Disable the low memory guard. (default: false)",
                "  -h, --help                  Show this message and exit.",
            )
            return 0
        if arg == "--worker":
            worker = "as-worker"
        elif arg == "--controlplane":
            worker = "as-master"  # upstream bug: truthy, so the client takes the worker path
        elif arg == "--skip-verify":
            skip_verify = True
        elif arg == "--disable-low-memory-guard":
            host.set_lock("low-memory-guard.lock", False)
        else:
            positional.append(arg)
    if not positional:
        click_usage("microk8s join", JOIN_USAGE, "Missing argument 'CONNECTION'.")
    if len(positional) > 1:
        extra = positional[1:]
        noun = "argument" if len(extra) == 1 else "arguments"
        click_usage("microk8s join", JOIN_USAGE, f"Got unexpected extra {noun} ({' '.join(extra)})")
    connection = positional[0]
    try:
        parts = valid_connection_parts(connection)
    except ValueError as reason:
        out(f"Invalid connection: {reason}")
        return 1
    host.set_lock("join-in-progress")
    master_ip, master_port = parts[0].rsplit(":", 1)
    token = parts[1]
    fingerprint = parts[2] if len(parts) > 2 else None
    verify = not skip_verify and fingerprint is not None
    out(f"Contacting cluster at {master_ip}")
    sys.stdout.flush()
    info = join_request(
        host,
        master_ip=master_ip,
        master_port=int(master_port),
        token=token,
        worker=worker,
        verify=verify,
        fingerprint=fingerprint,
    )
    own_cidr = cni.cluster_cidr(host)
    if info.get("cluster_cidr") and info["cluster_cidr"] != own_cidr:
        out(
            "WARNING: Joining a cluster that has a different CIDR. "
            "The kube-proxy CIDR configuration will be overwritten.",
            f"Cluster CIDR: {info['cluster_cidr']} -- Node CIDR: {own_cidr}(will be overwritten)",
        )
        launchconf.set_args(host, "kube-proxy", {"--cluster-cidr": info["cluster_cidr"]})
    # store_base_kubelet_args + update_kubelet_node_ip: the control plane's kubelet arguments,
    # with --node-ip (if it had one) the address this node joined from.
    if info.get("kubelet_args"):
        write_file(host.data / "args/kubelet", info["kubelet_args"])
        if "--node-ip" in info["kubelet_args"]:
            launchconf.set_args(host, "kubelet", {"--node-ip": info["hostname_override"]})
    if worker:
        join_as_worker(host, info, master_ip)
    else:
        join_as_control_plane(host, info, master_ip)
        cni.patch_autodetect(host, master_ip)
    host.set_lock("join-in-progress", False)
    if track(host) >= (1, 29):
        out("Successfully joined the cluster.")
    return 0


def join_request(host, *, master_ip, master_port, token, worker, verify, fingerprint) -> dict:
    try:
        # A refused or unreachable agent raises here, uncaught: traceback, exit 1 (upstream).
        conn = agent.connect(host, master_ip, timeout=60, port=master_port)
    except http.client.HTTPException as exc:
        out(f"Connecting to cluster failed with {exc}.")
        raise Exit(5) from None
    except ssl.SSLError as exc:
        out(f"Peer node verification failed with {exc}.")
        raise Exit(4) from None
    try:
        if verify:
            peer = hashlib.sha256(conn.sock.getpeercert(True)).hexdigest()
            if not peer.startswith(fingerprint):
                out(
                    f"Joining cluster failed. Could not verify the identity of {master_ip}."
                    " Use '--skip-verify' to skip server certificate check."
                )
                raise Exit(4)
        body = {
            "token": token,
            "hostname": host.hostname,
            "port": str(catalog.CLUSTER_AGENT_PORT),
            "worker": worker,
            "can_handle_x509_auth": True,
            "can_handle_custom_etcd": True,
        }
        headers = {"Content-type": "application/json", "Accept": "application/json"}
        conn.request("POST", f"{agent.API}/join", json.dumps(body), headers)
        response = conn.getresponse()
        raw = response.read().decode()
        if response.status != 200:
            message = "Connection failed."
            with contextlib.suppress(ValueError):
                data = json.loads(raw) if raw else {}
                if "error" in data:
                    message = f"{message} {data['error']}"
            out(f"{message} ({response.status}).")
            raise Exit(6)
        return json.loads(raw)
    except http.client.HTTPException as exc:
        out(f"Please ensure the master node is reachable. {exc}")
        raise Exit(1) from None
    except ssl.SSLError as exc:
        out(f"Peer node verification failed ({exc}).")
        raise Exit(4) from None
    finally:
        conn.close()


def _joining_pause(host: Host, progress: bool) -> None:
    """The join takes ``join_seconds`` (knob); control planes print progress dots."""
    remaining = float(host.knobs()["join_seconds"])
    while remaining > 0:
        step = min(1.0, remaining)
        time.sleep(step)
        remaining -= step
        if progress:
            print(".", end=" ", flush=True)


def _register(host: Host, master_ip: str, callback_token: str, worker: bool) -> dict:
    status, state = agent.call(
        host,
        master_ip,
        "POST",
        f"{agent.API}/sim/register",
        {
            "hostname": host.hostname,
            "worker": worker,
            "version": (host.snap_meta() or {}).get("version", ""),
        },
        token=callback_token,
        timeout=30,
    )
    if status != 200:
        raise RuntimeError(f"registering with {master_ip} failed ({status}): {state}")
    return state


def join_as_worker(host: Host, info: dict, master_ip: str) -> None:
    if info.get("ca_key") is not None:
        out(
            "Joining process failed. Make sure the cluster you connect to supports joining "
            "worker nodes."
        )
        raise Exit(1)
    write_file(host.certs / "ca.remote.crt", info["ca"] or "")
    write_file(host.credentials / "callback-token.txt", info["callback_token"] + "\n", 0o600)
    endpoints = info.get("control_plane_nodes") or [master_ip]
    write_file(
        host.data / "args/traefik/provider.yaml",
        "tcp:\n  services:\n    kube-apiserver:\n      loadBalancer:\n        servers:\n"
        + "".join(f'        - address: "{ip}:{info["apiport"]}"\n' for ip in endpoints),
    )
    _joining_pause(host, progress=False)
    state = _register(host, master_ip, info["callback_token"], worker=True)
    host.save_state(state)
    host.set_lock("clustered.lock")
    host.set_lock("no-k8s-dqlite")
    host.set_lock("no-cert-reissue")
    host.set_lock("no-apiserver-proxy", False)
    host.mark_started()
    out(
        "",
        "The node has joined the cluster and will appear in the nodes list in a few seconds.",
        "",
        "This worker node gets automatically configured with the API server endpoints.",
        "If the API servers are behind a loadbalancer please set the '--refresh-interval' to "
        "'0s' in:",
        "    /var/snap/microk8s/current/args/apiserver-proxy",
        "and replace the API server endpoints with the one provided by the loadbalancer in:",
        "    /var/snap/microk8s/current/args/traefik/provider.yaml",
        "",
    )


def join_as_control_plane(host: Host, info: dict, master_ip: str) -> None:
    write_file(host.certs / "ca.crt", info["ca"])
    write_file(host.certs / "ca.key", info["ca_key"], 0o600)
    if info.get("service_account_key"):
        write_file(host.certs / "serviceaccount.key", info["service_account_key"], 0o600)
    backend = host.data / "var/kubernetes/backend"
    if info.get("cluster_cert") and info.get("cluster_key"):
        write_file(backend / "cluster.crt", info["cluster_cert"])
        write_file(backend / "cluster.key", info["cluster_key"], 0o600)
    write_file(host.credentials / "callback-token.txt", info["callback_token"] + "\n", 0o600)
    # Signed by the cluster's CA now: the server certificate (and the join CHECK) change.
    certs.generate_server_cert(host)
    certs.generate_front_proxy_cert(host)
    certs.write_client_config(host)
    print("Waiting for this node to finish joining the cluster.", end=" ", flush=True)
    _joining_pause(host, progress=True)
    state = _register(host, master_ip, info["callback_token"], worker=False)
    host.save_state(state)
    print(" ")
    host.set_lock("no-cert-reissue")
    host.mark_started()


# ----------------------------------------------------------------------------- leave
def cmd_leave(host: Host, args: list) -> int:
    stopped_guard(host)
    if not host.has_lock("no-cert-reissue") or (
        not host.has_lock("clustered.lock") and not (host.data / "args/k8s-dqlite").exists()
    ):
        out("This MicroK8s deployment is not acting as a node in a cluster.")
        return 1
    if host.is_worker():
        out("Configuring services.")
        sys.stdout.flush()
        host.set_lock("clustered.lock", False)
        host.set_lock("no-k8s-dqlite", False)
        out("Generating new cluster certificates.")
        host.save_state(host.fresh_state())
        host.set_lock("no-cert-reissue", False)
        host.mark_started()
        out("Waiting for node to start.  ")
        return 0
    state = state_of(host)
    info = roles_of(state["members"])
    voters = [address for address, role in info if role == "voter"]
    mine = [a for a, _ in info if a.startswith(f"{host.address}:") or a.startswith("127.0.0.1:")]
    others = [a for a, _ in info if a not in mine]
    if len(voters) == 1 and mine and voters[0] == mine[0] and len(info) > 1:
        out(
            "This node currently holds the only copy of the Kubernetes database so it cannot "
            "leave the cluster.",
            "To remove this node you can either first remove all other nodes with "
            "'microk8s remove-node' or",
            "form a highly available cluster by adding at least three nodes.",
        )
        return 3
    if mine and others and not mine[0].startswith("127.0.0.1"):
        for endpoint in others:
            try:
                status, body = agent.call(
                    host,
                    endpoint.rsplit(":", 1)[0],
                    "POST",
                    f"{agent.API}/dqlite/remove",
                    {"remove_endpoint": mine[0]},
                    token=state["callback_token"],
                    timeout=10,
                )
                if status != 200:
                    raise RuntimeError(f"{status}: {body.get('error')}")
                break
            except Exception as exc:
                out(f"Contacting node {endpoint} failed. Error:", repr(exc))
                return 2
    out("Generating new cluster certificates.")
    sys.stdout.flush()
    certs.generate_ca(host)
    certs.generate_server_cert(host)
    certs.generate_front_proxy_cert(host)
    certs.write_client_config(host)
    host.save_state(host.fresh_state(addons=()))
    host.set_lock("no-cert-reissue", False)
    host.mark_started()
    out("Waiting for node to start.  ")
    return 0


# ----------------------------------------------------------------------------- remove-node
def cmd_remove_node(host: Host, args: list) -> int:
    worker_guard(host, f"{catalog.WORKER_PREFIX} Please use microk8s leave.", code=1)
    if not args:
        out("Please provide the node you want to remove.")
        return 1
    if host.has_lock("ha-cluster") and len(args) == 2 and args[1] != "--force":
        out("Please provide the node and the optional --force flag.")
        return 1
    force = "--force" in args
    names = [a for a in args if a != "--force"]
    if len(names) != 1:
        click_usage("microk8s remove-node", "[OPTIONS] NODE", "Missing argument 'NODE'.", "--help")
    node = names[0]
    state = state_of(host)
    try:
        ipaddress.ip_address(node)
        for record in state["nodes"]:
            if record["address"] == node:
                node = record["name"]
                break
    except ValueError:
        pass
    record = next((n for n in state["nodes"] if n["name"] == node), None)
    info = roles_of(state["members"])
    mine = [a for a, _ in info if a.startswith(f"{host.address}:") or a.startswith("127.0.0.1:")]
    others = [a for a, _ in info if a not in mine]
    if record is None:
        err(f'Error from server (NotFound): nodes "{node}" not found')
        out(f"Node {node} does not exist in Kubernetes.")
        if force:
            out(f"Attempting to remove {node} from dqlite.")
            for endpoint in others:
                if endpoint.startswith(f"{node}:"):
                    out("Removing node entry found in dqlite.")
                    agent.mutate(host, lambda s: agent.remove_member(s, node))
        return 1
    if not record.get("address"):
        out(f"Node {node} is not part of the cluster.")
        return 1
    node_ep = next((e for e in others if e.startswith(f"{record['address']}:")), None)
    if node_ep and not force:
        out(
            f"Removal failed. Node {node} is registered with dqlite. Please, run first "
            "'microk8s leave' on the departing node. ",
            "If the node is not available anymore and will never attempt to join the cluster "
            "in the future use the '--force' flag ",
            "to unregister the node while removing it.",
        )
        return 1

    def remove(state):
        if node_ep:
            agent.remove_member(state, record["address"])
        state["nodes"] = [n for n in state["nodes"] if n["name"] != node]

    agent.mutate(host, remove)
    return 0


# ----------------------------------------------------------------------------- refresh-certs
REFRESH_HELP = """Usage: microk8s refresh-certs [OPTIONS] [CA_DIR]

  Replace the CA certificates with the ca.crt and ca.key found in CA_DIR.
  Omit the CA_DIR argument and use the '--cert' flag to auto-generate a new CA
  or any other certificate.

Options:
  -c, --check  Check the expiration time of the installed certificates
  -e, --cert   The certificate to be autogenerated, must be one of """ + (
    "['ca.crt', 'server.crt', 'front-proxy-client.crt']\n"
    "  -u, --undo   Revert the last refresh performed\n"
    "  -h, --help   Show this message and exit."
)
SERVER_SUBJECT = (
    "subject=C = GB, ST = Canonical, L = Canonical, O = Canonical, OU = Canonical, CN = 127.0.0.1"
)
CERT_CHOICES = ("ca.crt", "server.crt", "front-proxy-client.crt")


def cmd_refresh_certs(host: Host, args: list) -> int:
    worker_guard(
        host,
        f"{catalog.WORKER_PREFIX} Please use the microk8s refresh-certs command on the master",
        "and then return to this node to perform a microk8s leave and re-join.",
        code=0,
    )
    undo = check = show_help = False
    cert = ca_dir = None
    iterator = iter(args)
    for arg in iterator:
        if arg in ("-u", "--undo"):
            undo = True
        elif arg in ("-c", "--check"):
            check = True
        elif arg in ("-h", "--help"):
            show_help = True
        elif arg in ("-e", "--cert") or arg.startswith("--cert="):
            cert = arg.split("=", 1)[1] if "=" in arg else next(iterator, None)
            if cert is None:
                click_usage(
                    "microk8s refresh-certs",
                    "[OPTIONS] [CA_DIR]",
                    f"Option '{arg}' requires an argument.",
                    "--help",
                )
            if cert not in CERT_CHOICES:
                click_usage(
                    "microk8s refresh-certs",
                    "[OPTIONS] [CA_DIR]",
                    f"Invalid value for '-e' / '--cert': '{cert}' is not one of "
                    "'ca.crt', 'server.crt', 'front-proxy-client.crt'.",
                    "--help",
                )
        elif arg.startswith("-"):
            click_usage(
                "microk8s refresh-certs", "[OPTIONS] [CA_DIR]", f"No such option: {arg}", "--help"
            )
        elif ca_dir is None:
            if not os.path.exists(arg):
                click_usage(
                    "microk8s refresh-certs",
                    "[OPTIONS] [CA_DIR]",
                    f"Invalid value for '[CA_DIR]': Path '{arg}' does not exist.",
                    "--help",
                )
            ca_dir = arg
        else:
            click_usage(
                "microk8s refresh-certs",
                "[OPTIONS] [CA_DIR]",
                f"Got unexpected extra argument ({arg})",
                "--help",
            )
    if show_help:
        out(REFRESH_HELP)
        return 0
    if ca_dir is not None and (undo or check or cert):
        out("Please do not set any options in combination with the CA_DIR.")
        return 1
    if sum(1 for op in (undo, check, cert) if op) > 1:
        out("Please select only one of the options -c, -u or -e.")
        return 2
    if os.geteuid() != 0:
        out("Elevated permissions is needed for this operation. Please run this command with sudo.")
        return 50
    if check:
        for name, label in (
            ("ca.crt", "CA"),
            ("server.crt", "server"),
            ("front-proxy-client.crt", "front proxy client"),
        ):
            try:
                days = certs.days_left(host.certs / name)
            except (OSError, ValueError) as exc:
                out(f"Failed to get certificate info. {exc}")
                return 4
            out(f"The {label} certificate will expire in {days} days.")
        return 0
    backup = host.snap_data / "certs-backup"
    if undo:
        if not backup.exists():
            out("No previous backup found")
            return 1
        shutil.rmtree(host.certs, ignore_errors=True)
        shutil.copytree(backup / "certs", host.certs)
        for service in ("kubelite", "cluster-agent"):
            out(f"Restarting service {service}.")
        return 0
    if ca_dir is None and not cert:
        out(
            "Please use the '--cert' flag to select the certificate you need refreshed.",
            "",
            "Available certificate options:",
            "'server.crt': refreshes the server certificate",
            "'front-proxy-client.crt': refreshes the front proxy client certificate",
            "'ca.crt': refreshes the root CA and all certificates created from it.",
            "            Warning: refreshing the root CA requires nodes to leave and re-join "
            "the cluster",
        )
        return 3
    out(f"Taking a backup of the current certificates under {backup}/")
    shutil.rmtree(backup, ignore_errors=True)
    backup.mkdir(parents=True)
    shutil.copytree(host.certs, backup / "certs")
    shutil.copytree(host.credentials, backup / "credentials")
    if ca_dir is not None:
        source = os.path.abspath(ca_dir)
        if not (os.path.isfile(f"{source}/ca.crt") and os.path.isfile(f"{source}/ca.key")):
            out(f"Could not find ca.crt and ca.key files in {ca_dir}")
            return 30
        out("Validating provided certificates")
        shutil.copy(f"{source}/ca.crt", host.certs / "ca.crt")
        shutil.copy(f"{source}/ca.key", host.certs / "ca.key")
        out("Installing provided certificates")
        cert = "ca-dir"
    else:
        out("Creating new certificates")
    sys.stdout.flush()
    if cert in ("ca.crt", "ca-dir"):
        if cert == "ca.crt":
            certs.generate_ca(host)
        certs.generate_server_cert(host)
        certs.generate_front_proxy_cert(host)
        certs.write_client_config(host)
        err(
            "Signature ok",
            SERVER_SUBJECT,
            "Getting CA Private Key",
        )
        out("Creating new kubeconfig file")
        out(
            "",
            "The CA certificates have been replaced. Kubernetes will restart the pods of your "
            "workloads.",
            "Any worker nodes you may have in your cluster need to be removed and re-joined to "
            "become aware of the new CA.",
            "",
        )
    elif cert == "server.crt":
        certs.generate_server_cert(host)
        err(
            "Signature ok",
            SERVER_SUBJECT,
            "Getting CA Private Key",
        )
        out("Restarting service kubelite.", "Restarting service cluster-agent.")
    else:
        certs.generate_front_proxy_cert(host)
        err("Signature ok", "subject=CN = front-proxy-client", "Getting CA Private Key")
        out("Restarting service kubelite.")
    return 0


# ----------------------------------------------------------------------------- small ones
def cmd_version(host: Host, args: list) -> int:
    meta = host.snap_meta() or {}
    out(f"MicroK8s {meta.get('version', '(unknown)')} revision {meta.get('revision', '(unknown)')}")
    return 0


def cmd_start(host: Host, args: list) -> int:
    worker_guard(
        host,
        catalog.WORKER_PREFIX,
        "Use 'snap start microk8s' to start services on this node.",
        code=0,
    )
    for arg in args:
        if arg in ("-h", "--help"):
            out(
                "Usage: microk8s start [OPTIONS]",
                "",
                "Start Kubernetes services",
                "",
                "Options:",
                " -h, --help                   Show this help",
                " --disable-low-memory-guard   Start MicroK8s in machines with RAM < 512MB",
            )
            return 0
        if arg == "--disable-low-memory-guard":
            host.set_lock("low-memory-guard.lock", False)
            continue
        out(f"microk8s start: invalid option -- {arg}")
        return 1
    was_stopped = host.is_stopped() or not services_active(host)
    host.set_active(True)
    host.set_lock("stopped.lock", False)
    if was_stopped:
        host.mark_started()
    agentd.start_agent(host)
    agent.pull_state(host)  # changes made while we were down
    deadline = time.monotonic() + 60
    while not cluster_ready(host) and time.monotonic() < deadline:
        time.sleep(0.2)
    return 0


def cmd_stop(host: Host, args: list) -> int:
    worker_guard(
        host,
        catalog.WORKER_PREFIX,
        "Use 'snap stop microk8s' to stop services on this node.",
        code=0,
    )
    for arg in args:
        if arg in ("-h", "--help"):
            out(
                "Usage: microk8s stop [OPTIONS]",
                "",
                "Stop Kubernetes services",
                "",
                "Options:",
                " -h, --help          Show this help",
            )
            return 0
        out(f"microk8s stop: invalid option -- {arg}")
        return 1
    host.set_active(False)
    agent.stop_agent(host)
    host.set_lock("stopped.lock")
    out("Stopped.")
    if track(host) >= (1, 30):
        out("Stopped.")
    return 0


def cmd_config(host: Host, args: list) -> int:
    worker_guard(
        host, f"{catalog.WORKER_PREFIX} Please use the microk8s config on the master.", code=0
    )
    loopback = False
    for arg in args:
        if arg in ("-l", "--use-loopback"):
            loopback = True
        elif arg in ("-h", "--help"):
            out(
                "Usage: microk8s config [OPTIONS]",
                "",
                "Retrieve the client config, similar to microk8s kubectl config view --raw",
                "",
                "Options:",
                " -h, --help          Show this help",
                " -l, --use-loopback  Report the cluster address using the loopback address",
                "                     (127.0.0.1) rather than the default interface address",
            )
            return 0
        else:
            out(f"microk8s config: invalid option -- {arg}")
            return 1
    text = (host.credentials / "client.config").read_text()
    if not loopback:
        text = text.replace("127.0.0.1", host.address, 1)
    sys.stdout.write(text)
    out("")
    return 0


def cmd_not_simulated(host: Host, args: list) -> int:
    err("This subcommand is not simulated by kubesalt.")
    return 1


COMMANDS = {
    "status": cmd_status,
    "add-node": cmd_add_node,
    "join": cmd_join,
    "leave": cmd_leave,
    "remove-node": cmd_remove_node,
    "enable": cmd_enable,
    "disable": cmd_disable,
    "refresh-certs": cmd_refresh_certs,
    "version": cmd_version,
    "start": cmd_start,
    "stop": cmd_stop,
    "config": cmd_config,
    "kubectl": cmd_kubectl,
    "addons": cmd_addons,
    "dbctl": cmd_dbctl,
    **{
        name: cmd_not_simulated
        for name in (
            "ctr",
            "helm",
            "helm3",
            "images",
            "istioctl",
            "linkerd",
            "reset",
            "inspect",
        )
    },
}
