"""The API load balancer of the root module, applied to a lab cloud with three control
planes (tests/lab/test_labcloud_loadbalancer.py and tests/bench/bench_api_lb.py).

The fixture ``api_lb`` applies the root module (API only: instances are not booted); its
Octavia objects become what the backing daemon makes of them (the amphora namespace with the
VIP and member-side ports, kubesalt.cloud.lbproxy in it; the router's 1:1 NAT for the
floating IP; the security groups as packet filters). Each control plane's port is wired with
a listener on 16443 (``NAMED``) that answers its own name; a "stranger" namespace sits outside
allowed_cidrs.
"""

import contextlib
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
from kubesalt.sim.microk8s import SimNode
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


@contextlib.contextmanager
def _load_balanced(tmp_path_factory, start_member, stop_member):
    """Apply the root module with three control planes; START_MEMBER(lab, name, document)
    runs what answers on each control plane's port (after its namespace is wired);
    STOP_MEMBER(member) stops it (the members as they are at the end)."""
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
    # are not booted: each control plane's port gets a namespace with what start_member runs
    document["servers"] = {}
    lab = instances.Backing(pathlib.Path(cloud_dir))
    members = {}
    try:
        assert applied.returncode == 0, applied.stderr[-3000:]
        lab.reconcile(document)
        ports = {p["name"]: p for p in document["ports"].values()}
        (lb_id,) = document["loadbalancers"]
        vip_port = document["loadbalancers"][lb_id]["vip_port_id"]
        (fip,) = [
            f["address"] for f in document["floating_ips"].values() if f["port_id"] == vip_port
        ]
        context = {
            "lab": lab,
            "fip": fip,
            "vip": document["loadbalancers"][lb_id]["vip_address"],
            "ports": ports,
            "document": document,
        }
        for name in CONTROL_PLANES:
            backing.attach_port(lab.fabric, document, ports[f"kubesalt-{name}"], name, lab.wiring)
        lab.fabric.apply_firewall(firewall.iptables_restore(document, lab.wiring.bindings))
        for name in CONTROL_PLANES:
            members[name] = start_member(context, name)
        assert instances.OPERATOR in lab.fabric.endpoints  # made by reconcile (operator_cidrs)
        lab.fabric.attach("stranger", "ext", "eth0", f"{STRANGER}/32")
        lab.fabric.run("stranger", ["ip", "route", "add", "203.0.113.0/24", "dev", "eth0"])
        (router,) = [e for e in lab.fabric.endpoints if e.startswith("router-")]
        lab.fabric.run(router, ["ip", "route", "add", f"{STRANGER}/32", "dev", "qg0"])
        status = pathlib.Path(cloud_dir) / "loadbalancers" / f"{lb_id}.status.json"
        wait_until(status.is_file, 60.0, "the load balancer's proxy to start", interval=0.5)
        yield {**context, "members": members, "status": status}
    finally:
        for member in members.values():
            stop_member(member)
        lab.close()
        # the real destroy order through Octavia's rules (monitor, members, pool, listener,
        # load balancer; the floating IP off the VIP port first)
        destroyed = workspace.destroy()
        install.remove(cloud_dir)
        assert destroyed.returncode == 0, destroyed.stderr[-3000:]


@pytest.fixture(scope="module")
def api_lb(tmp_path_factory):
    """Each control plane's port answers its own name on 16443 (a plain TCP listener)."""

    def named(context, name):
        return context["lab"].fabric.spawn(name, ["python3", "-c", NAMED, name])

    with _load_balanced(tmp_path_factory, named, lambda process: process.kill()) as context:
        yield context


def run_on(context, name, node, argv, timeout=300):
    """Run ARGV for simulated node NODE in its control plane's namespace NAME."""
    return context["lab"].fabric.run(
        name, argv, env=node.env(), capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def api_lb_microk8s(tmp_path_factory):
    """Each control plane runs the MicroK8s simulator in its namespace (its agent on 25000,
    its kube-apiserver on 16443, the load balancer's VIP and floating IP as extra SANs from a
    launch configuration); the second and third joined the first."""
    base = tmp_path_factory.mktemp("microk8s")

    def simulated(context, name):
        address = context["ports"][f"kubesalt-{name}"]["fixed_ips"][0]["ip_address"]
        node = SimNode(base / name, address, hostname=name)
        node.host.update_knobs(join_seconds=0)
        (node.root / "etc").mkdir(parents=True, exist_ok=True)
        (node.root / "etc/microk8s.yaml").write_text(
            f"version: 0.1.0\nextraSANs: [{context['vip']}, {context['fip']}]\n"
        )
        argv = [str(node.snap_path), "install", "microk8s", "--classic", "--channel=1.32/stable"]
        installed = run_on(context, name, node, argv)
        assert installed.returncode == 0, installed.stdout + installed.stderr
        return node

    with _load_balanced(tmp_path_factory, simulated, SimNode.stop_daemons) as context:
        first = context["members"][CONTROL_PLANES[0]]
        for name in CONTROL_PLANES[1:]:
            added = run_on(
                context, CONTROL_PLANES[0], first, ["microk8s", "add-node", "--format", "token"]
            )
            url = f"{first.address}:25000/{added.stdout.strip()}"
            node = context["members"][name]
            joined = run_on(context, name, node, ["microk8s", "join", url])
            assert joined.returncode == 0, joined.stdout + joined.stderr
        yield context
