"""The API load balancer of the root module, applied to a lab cloud with three control
planes (tests/lab/test_labcloud_loadbalancer.py and tests/bench/bench_api_lb.py).

The fixture ``api_lb`` applies the root module (API only: instances are not booted); its
Octavia objects become what the backing daemon makes of them (the amphora namespace with the
VIP and member-side ports, kubesalt.cloud.lbproxy in it; the router's 1:1 NAT for the
floating IP; the security groups as packet filters). Each control plane's port is wired with
a listener on 16443 (``NAMED``) that answers its own name; a "stranger" namespace sits outside
allowed_cidrs.
"""

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
from tests.support.waiting import wait_until

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
        wait_until(status.is_file, 60.0, "the load balancer's proxy to start", interval=0.5)
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
