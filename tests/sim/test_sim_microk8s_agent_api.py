"""The cluster agent's v2 join API, spoken to directly over HTTPS."""

import pytest

from kubesalt.sim.microk8s import agent
from kubesalt.sim.microk8s.host import Host
from tests.support.microk8s_sim import free_sim_address

# Free addresses (another test session may run simulated nodes too): the server, and the
# source addresses of the clients that speak to it.
SERVER, JOINER, WORKER, CONTROL_PLANE, CLIENT, UNKNOWN_JOINER = (
    free_sim_address() for _ in range(6)
)


@pytest.fixture(scope="module")
def server(microk8s_sim_module):
    return microk8s_sim_module(SERVER, install="1.32/stable")


def add_token(server, *extra):
    token = server.run(["microk8s", "add-node", "--format", "token", *extra]).stdout.strip()
    assert len(token) == 32
    return token


def join(client_address, body, tmp_path):
    client = Host(tmp_path / "client", client_address)
    return agent.call(client, SERVER, "POST", f"{agent.API}/join", body, timeout=10)


def request(token, **extra):
    return {"token": token, "hostname": "joiner", "port": "25000", **extra}


def test_checks_in_order_and_token_consumed_first(server, tmp_path):
    assert join(JOINER, request("x" * 32), tmp_path) == (500, {"error": "Invalid token"})

    token = add_token(server)
    wrong_port = join(JOINER, request(token, port="30000"), tmp_path)
    assert wrong_port == (
        502,
        {"error": "The port of the cluster agent port has to be set to 25000"},
    )
    assert join(JOINER, request(token), tmp_path)[0] == 500  # burnt by the failed try

    token = add_token(server)
    same_ip = join(SERVER, request(token), tmp_path)
    assert same_ip == (
        503,
        {"error": f"The joining node has the same IP ({SERVER}) as the node we contact"},
    )

    ha_lock = server.root / "var/snap/microk8s/current/var/lock/ha-cluster"
    ha_lock.unlink()
    try:
        token = add_token(server)
        assert join(JOINER, request(token), tmp_path) == (
            501,
            {"error": "Not possible to join. This is not an HA MicroK8s cluster"},
        )
    finally:
        ha_lock.touch()


def test_success_payloads(server, tmp_path):
    token = add_token(server, "--token-ttl", "600")
    status, worker = join(WORKER, request(token, worker="as-worker"), tmp_path)
    assert status == 200
    assert set(worker) == {
        "ca",
        "callback_token",
        "apiport",
        "api_authz_mode",
        "kubelet_args",
        "hostname_override",
        "service_account_key",
        "ca_key",
        "control_plane_nodes",
        "cluster_cidr",
    }
    assert worker["ca_key"] is None and worker["hostname_override"] == WORKER
    assert worker["control_plane_nodes"] == [SERVER]
    assert worker["ca"].startswith("-----BEGIN CERTIFICATE-----")

    status, control_plane = join(CONTROL_PLANE, request(token, worker=False), tmp_path)
    assert status == 200
    assert set(control_plane) == set(worker) | {"voters", "cluster_cert", "cluster_key"}
    assert control_plane["ca_key"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert control_plane["control_plane_nodes"] is None
    # The first accepted join rebound this node's dqlite member from loopback.
    assert control_plane["voters"] == [f"{SERVER}:19001"]
    assert (server.root / "var/snap/microk8s/current/var/lock/no-cert-reissue").exists()


def test_dqlite_remove_needs_the_capi_token(server, tmp_path):
    client = Host(tmp_path / "client", CLIENT)
    path = f"{agent.API}/dqlite/remove"
    body = {"remove_endpoint": f"{CONTROL_PLANE}:19001"}
    status, answer = agent.call(client, SERVER, "POST", path, body, timeout=10)
    assert status == 500 and answer["error"].startswith(
        "Failed to remove from dqlite: failed to validate CAPI auth token"
    )
    capi = server.root / "capi/etc/token"
    capi.parent.mkdir(parents=True, exist_ok=True)
    capi.write_text("capi-secret\n")
    conn = agent.connect(client, SERVER, timeout=10)
    try:
        conn.request(
            "POST",
            path,
            f'{{"remove_endpoint": "{CONTROL_PLANE}:19001"}}',
            {"capi-auth-token": "nope"},
        )
        response = conn.getresponse()
        assert response.status == 401
        response.read()
        conn.request(
            "POST",
            path,
            f'{{"remove_endpoint": "{CONTROL_PLANE}:19001"}}',
            {"capi-auth-token": "capi-secret"},
        )
        response = conn.getresponse()
        # Authorised; CONTROL_PLANE only asked to join (never registered), so not a member.
        assert response.status == 500
        assert b"no such node in the dqlite cluster" in response.read()
    finally:
        conn.close()


def test_hostname_check_when_the_apiserver_prefers_hostnames(server, tmp_path):
    args = server.root / "var/snap/microk8s/current/args/kube-apiserver"
    original = args.read_text()
    args.write_text(
        original.replace(
            "--kubelet-preferred-address-types=InternalIP,Hostname",
            "--kubelet-preferred-address-types=Hostname,InternalIP",
        )
    )
    hosts = server.root / "etc/hosts"
    try:
        token = add_token(server, "--token-ttl", "600")
        refused = join(UNKNOWN_JOINER, request(token, worker=True), tmp_path)
        assert refused == (
            400,
            {
                "error": "The hostname (joiner) of the joining node does not resolve to the IP "
                f'"{UNKNOWN_JOINER}". Refusing join'
            },
        )
        hosts.parent.mkdir(parents=True, exist_ok=True)
        hosts.write_text(f"{UNKNOWN_JOINER} joiner joiner.lab\n")
        assert join(UNKNOWN_JOINER, request(token, worker=True), tmp_path)[0] == 200
    finally:
        args.write_text(original)
        hosts.unlink(missing_ok=True)
