"""Security groups of the applied root module as real packet filtering (kubesalt.cloud.firewall).

The root module is applied to a lab cloud. Each instance (or unbound port) becomes a network
namespace with an interface per port on a bridge per network, in a switch namespace where the
per-port chains are installed the way Neutron's iptables-hybrid driver installs them. Real TCP
connections then show what the rules allow. The operator (203.0.113.50, in operator_cidrs) and a
stranger (198.51.100.7) sit on the external network, beyond the router (kubesalt.cloud.backing):
they reach the bastion and the API through the floating IPs' 1:1 NAT, their source address
intact, as on OpenStack.
"""

import pathlib
import subprocess
import time

import pytest

from kubesalt.cloud import backing
from kubesalt.cloud import install
from kubesalt.cloud.fabric import Fabric
from kubesalt.cloud.store import Store
from kubesalt.cloud.workspace import Workspace
from kubesalt.cloud.workspace import lab_tfvars
from kubesalt.tf import engine as tf_engine

KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleExampleExampleExampleExampleExample op@example.com"
)
OPERATOR, STRANGER = "203.0.113.50", "198.51.100.7"
PORTS = (22, 4505, 4506, 16443, 25000)
LISTENER = (
    "import socket, threading\n"
    "def serve(port):\n"
    "    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "    s.bind(('0.0.0.0', port)); s.listen(16)\n"
    "    while True:\n"
    "        c, _ = s.accept(); c.sendall(b'ok'); c.close()\n"
    f"for p in {PORTS!r}:\n"
    "    threading.Thread(target=serve, args=(p,), daemon=True).start()\n"
    "threading.Event().wait()\n"
)
PROBE = (
    "import socket, sys\n"
    "try:\n"
    "    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1.5)\n"
    "    sys.exit(0 if s.recv(2) == b'ok' else 2)\n"
    "except OSError:\n"
    "    sys.exit(1)\n"
)


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    try:
        engine = tf_engine.find_engine()
    except tf_engine.TerraformError as exc:
        pytest.skip(str(exc))
    links_before = _machine_links()
    cloud_dir = tmp_path_factory.mktemp("labcloud") / "cloud"
    install.install(cloud_dir)
    workspace = Workspace(tmp_path_factory.mktemp("root"), cloud_dir, engine)
    workspace.prepare(lab_tfvars(KEY))
    workspace.init()
    workspace.apply()
    document = Store(cloud_dir).read()
    fabric = Fabric()
    listeners = []
    try:
        wiring = backing.wire(fabric, document)
        addresses = {
            name.removeprefix("kubesalt-"): value for name, value in wiring.addresses.items()
        }
        for name, fip in wiring.floating.items():
            addresses["fip:" + name.removeprefix("kubesalt-")] = ("operator", fip)
        # the internet side: the operator on the external network, the stranger beyond it
        fabric.attach("operator", "ext", "eth0", f"{OPERATOR}/24")
        fabric.attach("stranger", "ext", "eth0", f"{STRANGER}/32")
        fabric.run("stranger", ["ip", "route", "add", "203.0.113.0/24", "dev", "eth0"])
        (router,) = [e for e in fabric.endpoints if e.startswith("router-")]
        fabric.run(router, ["ip", "route", "add", f"{STRANGER}/32", "dev", "qg0"])
        addresses["operator"] = ("operator", OPERATOR)
        addresses["stranger"] = ("stranger", STRANGER)
        for owner in set(wiring.owners.values()):
            listeners.append(fabric.spawn(owner, ["python3", "-c", LISTENER]))
        time.sleep(1)
        yield fabric, addresses
    finally:
        for listener in listeners:
            listener.kill()
        fabric.close()
        workspace.destroy()
        install.remove(cloud_dir)
    # what the fabric could leave: its namespace keepers, links on the machine (the lab
    # safety test checks the whole machine; neighbours' labs come and go meanwhile)
    keepers = [fabric.switch.pid, *(p.pid for p in fabric.endpoints.values())]
    assert [pid for pid in keepers if pathlib.Path(f"/proc/{pid}").exists()] == []
    assert _machine_links() == links_before


def _machine_links() -> list[str]:
    text = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    return sorted(line.split(":")[1].strip() for line in text.splitlines())


def _connects(fabric, addresses, source, target, port) -> bool:
    result = fabric.run(
        addresses[source][0], ["python3", "-c", PROBE, addresses[target][1], str(port)]
    )
    return result.returncode == 0


@pytest.mark.parametrize(
    ("source", "target", "port", "expected"),
    [
        ("operator", "fip:bastion-public", 22, True),
        ("stranger", "fip:bastion-public", 22, False),
        ("operator", "fip:bastion-public", 4506, False),
        ("operator", "fip:k8s-master-public", 16443, True),
        ("operator", "fip:k8s-master-public", 22, False),
        ("k8s-worker-0", "salt", 4506, True),
        ("k8s-worker-0", "salt", 4505, True),
        ("bastion-private", "salt", 22, True),
        ("k8s-master", "k8s-worker-0", 25000, True),
        ("salt", "k8s-worker-0", 25000, False),
        ("bastion-private", "k8s-master", 16443, True),
    ],
)
def test_connection(network, source, target, port, expected):
    fabric, addresses = network
    assert _connects(fabric, addresses, source, target, port) is expected


@pytest.mark.parametrize(
    ("source", "target", "port"),
    [
        ("stranger", "fip:k8s-master-public", 16443),
        ("salt", "k8s-master", 16443),
        ("k8s-worker-0", "salt", 22),
        ("k8s-master", "k8s-worker-0", 22),
    ],
)
def test_non_members_are_refused(network, source, target, port):
    """Issue 11 defect 4: the bastion's pair 0.0.0.0/0 made any source a member of
    bastion-private, the remote group of the SSH and API rules: 16443 and 22 accepted anyone."""
    fabric, addresses = network
    assert not _connects(fabric, addresses, source, target, port)
