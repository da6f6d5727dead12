"""The API load balancer of the root module as a real TCP load balancer (issue 12 item 2).

The root module is applied with three control planes to a lab cloud (API only: instances are
not booted here); its Octavia objects become what the backing daemon makes of them
(kubesalt.cloud.instances.Backing: the amphora namespace with the VIP and member-side ports,
kubesalt.cloud.lbproxy in it; the router's 1:1 NAT for the floating IP; the security groups
as packet filters). Each control plane's port is wired to the MicroK8s simulator in its
namespace (tests/support/api_lb.py ``api_lb_microk8s``): one cluster of three control planes,
each serving the kube-apiserver on 16443 with the load balancer's addresses as SANs.

The operator (in operator_cidrs) uses the kubeconfig ``microk8s.write_kubeconfig`` writes,
pointed at the API floating IP, with the ``kubernetes`` Python client; a stranger (outside
allowed_cidrs) cannot connect. With the first control plane stopped, the health monitor takes
it out with no failed connection, the client still lists the nodes (the first one NotReady)
and a new worker joins through the control planes in turn (``microk8s.cluster_joined``).
"""

import ctypes
import json
import os
import sys
import time

import pytest

from kubesalt.cloud import backing
from kubesalt.cloud import firewall
from kubesalt.cloud import instances
from kubesalt.sim.microk8s import SimNode
from tests.support.api_lb import CONTROL_PLANES
from tests.support.api_lb import api_lb_microk8s  # noqa: F401 (the fixture)
from tests.support.api_lb import run_on
from tests.support.simminion import loaders_for
from tests.support.simminion import local_minion_opts
from tests.support.waiting import wait_until

TLS_PROBE = (
    "import socket, ssl, sys\n"
    "try:\n"
    "    s = socket.create_connection((sys.argv[1], 16443), timeout=5)\n"
    "    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)\n"
    "    c.check_hostname = False\n"
    "    c.verify_mode = ssl.CERT_NONE\n"
    "    c.wrap_socket(s).close()\n"
    "    print('ok')\n"
    "except OSError as exc:\n"
    "    print('error', exc); sys.exit(1)\n"
)
# COUNT requests, each with a fresh client (a new connection, so the round robin shows):
# which control plane answered (/api's serverAddress) and the nodes' Ready conditions.
CLIENT = (
    "import json, sys\n"
    "from kubernetes import client, config\n"
    "for _ in range(int(sys.argv[2])):\n"
    "    try:\n"
    "        with config.new_client_from_config(config_file=sys.argv[1]) as api:\n"
    "            versions = client.CoreApi(api).get_api_versions(_request_timeout=30)\n"
    "            nodes = client.CoreV1Api(api).list_node(_request_timeout=30)\n"
    "        server = versions.server_address_by_client_cidrs[0].server_address\n"
    "        ready = {n.metadata.name: [c.status for c in n.status.conditions"
    " if c.type == 'Ready'][0] for n in nodes.items}\n"
    "        print(json.dumps({'server': server.split(':')[0], 'nodes': ready}), flush=True)\n"
    "    except Exception as exc:\n"
    "        print(json.dumps({'error': repr(exc)[:500]}), flush=True)\n"
)
FIRST = "10.1.0.10"


@pytest.fixture(scope="module")
def minion_opts(salt_factories, tmp_path_factory):
    return local_minion_opts(salt_factories, tmp_path_factory, "lab-api-lb")


@pytest.fixture(scope="module")
def kubeconfig(api_lb_microk8s, minion_opts, tmp_path_factory):  # noqa: F811
    """The operator's kubeconfig from ``microk8s.write_kubeconfig`` on the first control
    plane, its server the API floating IP."""
    path = tmp_path_factory.mktemp("operator") / "kubesalt.kubeconfig"
    first = api_lb_microk8s["members"][CONTROL_PLANES[0]]
    written = loaders_for(minion_opts, first).modules.microk8s.write_kubeconfig(
        str(path), server=api_lb_microk8s["fip"]
    )
    assert written["server"] == f"https://{api_lb_microk8s['fip']}:16443"
    assert written["credential"] == "client certificate"
    return path


def _tls(api_lb, source=instances.OPERATOR) -> bool:
    result = api_lb["lab"].fabric.run(
        source, ["python3", "-c", TLS_PROBE, api_lb["fip"]], capture_output=True, text=True
    )
    return result.returncode == 0


def _client(api_lb, kubeconfig, count=1) -> list[dict]:
    result = api_lb["lab"].fabric.run(
        instances.OPERATOR,
        [sys.executable, "-c", CLIENT, str(kubeconfig), str(count)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return [json.loads(line) for line in result.stdout.splitlines()]


def _member_status(api_lb) -> dict:
    return json.loads(api_lb["status"].read_text())["members"]


def _in_namespace(pid: int, func) -> dict:
    """FUNC() run in a child that entered the network namespace of process PID; its JSON
    result (the commands it runs inherit the namespace)."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child
        os.close(read_end)
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
            if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
                raise OSError(ctypes.get_errno(), "setns")
            text = json.dumps(func())
        except BaseException as exc:
            text = json.dumps({"result": False, "comment": repr(exc)})
        os.write(write_end, text.encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    os.waitpid(child, 0)
    return json.loads(data or b'{"result": false, "comment": "no answer"}')


def _joined(loaders, token, addresses) -> dict:
    ret = loaders.states.microk8s.cluster_joined(
        "control-planes", token=token, worker=True, addresses=addresses
    )
    return {"result": ret.result, "comment": ret.comment}


def test_the_floating_ip_reaches_every_control_plane(api_lb_microk8s, kubeconfig):  # noqa: F811
    answers = _client(api_lb_microk8s, kubeconfig, count=9)
    assert all("error" not in a for a in answers), answers
    members = api_lb_microk8s["members"]
    assert {a["server"] for a in answers} == {members[n].address for n in CONTROL_PLANES}
    assert answers[-1]["nodes"] == dict.fromkeys(CONTROL_PLANES, "True")


def test_a_source_outside_allowed_cidrs_is_refused(api_lb_microk8s):  # noqa: F811
    assert _tls(api_lb_microk8s)
    assert not _tls(api_lb_microk8s, "stranger")


@pytest.mark.timeout(1200)
def test_with_the_first_control_plane_stopped(api_lb_microk8s, kubeconfig, minion_opts):  # noqa: F811
    lab, members = api_lb_microk8s["lab"], api_lb_microk8s["members"]
    first = members[CONTROL_PLANES[0]]
    stopped = run_on(api_lb_microk8s, CONTROL_PLANES[0], first, ["microk8s", "stop"])
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    # until the monitor marks it down, its connections go to the next member (redispatch)
    probes = []
    deadline = time.monotonic() + 120
    while _member_status(api_lb_microk8s).get(f"{FIRST}:16443") != "ERROR":
        assert time.monotonic() < deadline, _member_status(api_lb_microk8s)
        probes.append(_tls(api_lb_microk8s))
    assert all(probes), probes
    answers = _client(api_lb_microk8s, kubeconfig, count=4)
    assert all("error" not in a for a in answers), answers
    assert FIRST not in {a["server"] for a in answers}
    # NotReady (Unknown: its kubelet stopped posting) through the load balancer
    wait_until(
        lambda: _client(api_lb_microk8s, kubeconfig)[0]["nodes"].get(CONTROL_PLANES[0]) != "True",
        120.0,
        "the stopped control plane to show NotReady",
        interval=1.0,
    )

    # a new worker joins through the control planes in turn, the first one refusing
    (port,) = [p for n, p in api_lb_microk8s["ports"].items() if "worker" in n]
    name, address = "k8s-worker", port["fixed_ips"][0]["ip_address"]
    document = api_lb_microk8s["document"]
    backing.attach_port(lab.fabric, document, port, name, lab.wiring)
    lab.fabric.apply_firewall(firewall.iptables_restore(document, lab.wiring.bindings))
    worker = SimNode(first.root.parent / name, address, hostname=name)
    worker.host.update_knobs(join_seconds=0)
    argv = [str(worker.snap_path), "install", "microk8s", "--classic", "--channel=1.32/stable"]
    assert run_on(api_lb_microk8s, name, worker, argv).returncode == 0
    try:
        token = "w" * 32
        for cp in CONTROL_PLANES[1:]:
            added = run_on(
                api_lb_microk8s, cp, members[cp], ["microk8s", "add-node", "--token", token]
            )
            assert added.returncode == 0, added.stdout + added.stderr
        loaders = loaders_for(minion_opts, worker)
        addresses = [members[cp].address for cp in CONTROL_PLANES]
        joined = _in_namespace(
            lab.fabric.endpoints[name].pid,
            lambda: _joined(loaders, token, addresses),
        )
        assert joined["result"] is True, joined
        wait_until(
            lambda: _client(api_lb_microk8s, kubeconfig)[0]["nodes"].get(name) == "True",
            120.0,
            "the new worker to show Ready through the load balancer",
            interval=1.0,
        )
    finally:
        worker.stop_daemons()
        # started again: back in the pool after max_retries good checks
        started = run_on(api_lb_microk8s, CONTROL_PLANES[0], first, ["microk8s", "start"])
        assert started.returncode == 0, started.stdout + started.stderr
    wait_until(
        lambda: _member_status(api_lb_microk8s).get(f"{FIRST}:16443") == "ONLINE",
        60.0,
        "the restarted control plane to come back",
        interval=0.5,
    )
