"""The API load balancer of the root module as a real TCP load balancer (issue 12 item 2).

The root module is applied with three control planes to a lab cloud (API only: instances are
not booted here); its Octavia objects become what the backing daemon makes of them
(kubesalt.cloud.instances.Backing: the amphora namespace with the VIP and member-side ports,
kubesalt.cloud.lbproxy in it; the router's 1:1 NAT for the floating IP; the security groups
as packet filters). Each control plane's port is wired with a listener on 16443 that answers
its own name. The operator (in operator_cidrs) connects to the API floating IP; a stranger
(outside allowed_cidrs) cannot; a stopped control plane is taken out by the health monitor
and no connection fails meanwhile.
"""

import json
import pathlib
import time

import pytest

from kubesalt.cloud import backing
from kubesalt.cloud import firewall
from kubesalt.cloud import install
from kubesalt.cloud import instances
from kubesalt.cloud.store import Store
from kubesalt.cloud.workspace import Workspace
from kubesalt.cloud.workspace import lab_tfvars
from kubesalt.tf import engine as tf_engine

KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleExampleExampleExampleExampleExample op@example.com"
)
# The operator is the namespace the backing makes on the external network (in operator_cidrs).
STRANGER = "198.51.100.7"
CONTROL_PLANES = ("k8s-master", "k8s-master-1", "k8s-master-2")
NAMED = (
    "import socket, sys\n"
    "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind(('0.0.0.0', 16443)); s.listen(64)\n"
    "while True:\n"
    "    c, _ = s.accept(); c.sendall(sys.argv[1].encode()); c.close()\n"
)
PROBE = (
    "import socket, sys\n"
    "try:\n"
    "    s = socket.create_connection((sys.argv[1], 16443), timeout=5)\n"
    "    print(s.recv(64).decode())\n"
    "except OSError as exc:\n"
    "    print('error', exc); sys.exit(1)\n"
)


@pytest.fixture(scope="module")
def api_lb(tmp_path_factory):
    try:
        engine = tf_engine.find_engine()
    except tf_engine.TerraformError as exc:
        pytest.skip(str(exc))
    cloud_dir = tmp_path_factory.mktemp("labcloud") / "cloud"
    install.install(cloud_dir)
    workspace = Workspace(tmp_path_factory.mktemp("root"), cloud_dir, engine)
    workspace.prepare(lab_tfvars(KEY, workers=1, control_planes=3))
    workspace.init()
    started = time.monotonic()
    applied = workspace.apply()
    print(f"terraform apply, 3 control planes: {time.monotonic() - started:.1f} s")
    document = Store(cloud_dir).read()
    # the networks, the load balancer and the router as the daemon makes them; the instances
    # are not booted: each control plane's port gets a namespace with a named listener
    document["servers"] = {}
    lab = instances.Backing(pathlib.Path(cloud_dir))
    members = {}
    try:
        assert applied.returncode == 0, applied.stderr[-3000:]
        lab.reconcile(document)
        ports = {p["name"]: p for p in document["ports"].values()}
        for name in CONTROL_PLANES:
            port = ports[f"kubesalt-{name}"]
            backing.attach_port(lab.fabric, document, port, name, lab.wiring)
            members[name] = lab.fabric.spawn(name, ["python3", "-c", NAMED, name])
        lab.fabric.apply_firewall(firewall.iptables_restore(document, lab.wiring.bindings))
        assert instances.OPERATOR in lab.fabric.endpoints  # made by reconcile (operator_cidrs)
        lab.fabric.attach("stranger", "ext", "eth0", f"{STRANGER}/32")
        lab.fabric.run("stranger", ["ip", "route", "add", "203.0.113.0/24", "dev", "eth0"])
        (router,) = [e for e in lab.fabric.endpoints if e.startswith("router-")]
        lab.fabric.run(router, ["ip", "route", "add", f"{STRANGER}/32", "dev", "qg0"])
        (lb_id,) = document["loadbalancers"]
        vip_port = document["loadbalancers"][lb_id]["vip_port_id"]
        (fip,) = [
            f["address"] for f in document["floating_ips"].values() if f["port_id"] == vip_port
        ]
        status = pathlib.Path(cloud_dir) / "loadbalancers" / f"{lb_id}.status.json"
        _wait(status.is_file, "the load balancer's proxy did not start")
        yield {"lab": lab, "fip": fip, "members": members, "status": status}
    finally:
        for process in members.values():
            process.kill()
        lab.close()
        # the real destroy order through Octavia's rules (monitor, members, pool, listener,
        # load balancer; the floating IP off the VIP port first)
        destroyed = workspace.destroy()
        install.remove(cloud_dir)
        assert destroyed.returncode == 0, destroyed.stderr[-3000:]


def _wait(condition, message, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.5)


def _probe(api_lb, source=instances.OPERATOR) -> str | None:
    result = api_lb["lab"].fabric.run(source, ["python3", "-c", PROBE, api_lb["fip"]])
    return result.stdout.strip() if result.returncode == 0 else None


def _member_status(api_lb) -> dict:
    return json.loads(api_lb["status"].read_text())["members"]


def test_the_floating_ip_reaches_every_control_plane(api_lb):
    answers = [_probe(api_lb) for _ in range(9)]
    assert None not in answers, answers
    assert set(answers) == set(CONTROL_PLANES), answers


def test_a_source_outside_allowed_cidrs_is_refused(api_lb):
    assert _probe(api_lb, "stranger") is None


def test_a_stopped_control_plane_is_taken_out_by_the_health_monitor(api_lb):
    lab, members = api_lb["lab"], api_lb["members"]
    members["k8s-master"].kill()
    members["k8s-master"].wait(timeout=10)
    # until the monitor marks it down, its connections go to the next member (redispatch)
    answers = []
    deadline = time.monotonic() + 60
    while _member_status(api_lb).get("10.1.0.10:16443") != "ERROR":
        assert time.monotonic() < deadline, _member_status(api_lb)
        answers.append(_probe(api_lb))
    assert None not in answers and "k8s-master" not in answers, answers
    answers = [_probe(api_lb) for _ in range(6)]
    assert set(answers) == {"k8s-master-1", "k8s-master-2"}, answers
    # started again: back in the pool after max_retries good checks
    members["k8s-master"] = lab.fabric.spawn("k8s-master", ["python3", "-c", NAMED, "k8s-master"])
    _wait(
        lambda: _member_status(api_lb).get("10.1.0.10:16443") == "ONLINE",
        "the restarted control plane did not come back",
    )
    assert "k8s-master" in {_probe(api_lb) for _ in range(6)}
