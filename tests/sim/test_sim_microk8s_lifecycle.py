"""Readiness, snap refresh/remove/services, the kubesalt CLI and daemon hygiene."""

import os
import subprocess
import sys

import yaml

from kubesalt.sim.microk8s import SimNode
from tests.support.microk8s_sim import free_sim_address
from tests.support.paths import REPO_ROOT
from tests.support.waiting import wait_until

NOT_RUNNING = "microk8s is not running. Use microk8s inspect for a deeper inspection.\n"


def kubesalt(*args):
    return subprocess.run(
        [sys.executable, "-m", "kubesalt", "sim", "microk8s", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
        check=False,
    )


def test_not_ready_node(microk8s_sim):
    node = microk8s_sim(install="1.32/stable")
    node.set_knobs(ready_seconds=3600)
    pretty = node.run(["microk8s", "status"])
    assert (pretty.returncode, pretty.stdout) == (1, NOT_RUNNING)
    as_yaml = node.run(["microk8s", "status", "--format", "yaml"])
    assert as_yaml.returncode == 1
    assert as_yaml.stdout == (
        "microk8s:\n  running: False\nhigh-availability:\n  enabled: True\n  nodes:\n"
        "    - address: 127.0.0.1:19001\n      role: voter\n"
        "  message: microk8s is not running. Use microk8s inspect for a deeper inspection.\n"
    )
    parsed = yaml.safe_load(as_yaml.stdout)
    assert "addons" not in parsed and "message" in parsed["high-availability"]
    addon = node.run(["microk8s", "status", "-a", "dns"])
    assert (addon.returncode, addon.stdout) == (1, "disabled\n")
    # Gives up after its --timeout (one that waited on would hit SimNode.run's timeout).
    waited = node.run(["microk8s", "status", "--wait-ready", "--timeout", "1"])
    assert waited.returncode == 1
    node.set_knobs(ready_seconds=0)
    assert node.run(["microk8s", "status", "--wait-ready", "--timeout", "5"]).returncode == 0


def test_snap_refresh_services_and_remove(microk8s_sim):
    node = microk8s_sim(install="1.32/stable")
    same = node.run(["snap", "refresh", "microk8s", "--channel=1.32/stable"])
    assert (same.returncode, same.stderr) == (0, 'snap "microk8s" has no updates available\n')
    upgraded = node.run(["snap", "refresh", "microk8s", "--channel=1.33/stable"])
    assert upgraded.returncode == 0
    assert upgraded.stdout == "microk8s (1.33/stable) v1.33.4 from Canonical\u2713 refreshed\n"
    assert node.run(["microk8s", "version"]).stdout == "MicroK8s v1.33.4 revision 8205\n"
    assert (node.root / "var/snap/microk8s/current").resolve().name == "8205"
    assert (node.root / "var/snap/microk8s/current/certs/server.crt").exists()
    assert node.agent_running()
    services = node.run(["snap", "services", "microk8s"]).stdout.splitlines()
    assert services[0].split() == ["Service", "Startup", "Current", "Notes"]
    assert "microk8s.daemon-kubelite          enabled   active    -" in services
    stopped = node.run(["snap", "stop", "microk8s"])
    assert (stopped.returncode, stopped.stdout) == (0, "Stopped.\n")
    assert not node.agent_running()
    assert node.run(["microk8s", "status"]).stdout == NOT_RUNNING
    assert node.run(["snap", "start", "microk8s"]).stdout == "Started.\n"
    assert node.agent_running()
    removed = node.run(["snap", "remove", "microk8s", "--purge"])
    assert (removed.returncode, removed.stdout) == (0, "microk8s removed\n")
    assert not node.agent_running()
    assert not (node.root / "snap/bin/microk8s").exists()
    assert not (node.root / "var/snap/microk8s").exists()
    assert node.run(["snap", "list", "microk8s"]).returncode == 1


def test_kubesalt_cli_install_snap_shell_env_and_knob(tmp_path):
    root = tmp_path / "host"
    address = free_sim_address()
    written = kubesalt("install-snap", "--root", str(root), "--address", address)
    assert written.returncode == 0, written.stderr
    assert written.stdout.strip() == str(root / "bin/snap")
    assert os.access(root / "bin/snap", os.X_OK)
    env = kubesalt("shell-env", "--root", str(root), "--address", address)
    assert env.returncode == 0
    assert f'export PATH={root}/bin:{root}/snap/bin:"$PATH"' in env.stdout.splitlines()
    again = kubesalt("shell-env", "--root", str(root))  # keeps the address set up before
    assert again.stdout == env.stdout
    assert address in (root / "bin/snap").read_text()
    knob = kubesalt("knob", "--root", str(root), "join_seconds=3", "fail_joins=2")
    assert knob.returncode == 0, knob.stderr
    node = SimNode(root, address)
    assert node.knobs()["join_seconds"] == 3.0 and node.knobs()["fail_joins"] == 2
    bad = kubesalt("knob", "--root", str(root), "bogus=1")
    assert bad.returncode == 2 and "unknown knob" in bad.stderr
    shell = subprocess.run(
        ["bash", "-c", f"{env.stdout}\ncommand -v snap"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert shell.stdout.strip() == str(root / "bin/snap")


def test_agent_exits_when_its_root_disappears(microk8s_sim):
    node = microk8s_sim(install="1.32/stable")
    pid = int((node.host.sim_dir / "cluster-agent.pid").read_text().split()[0])
    assert node.agent_running()
    subprocess.run(["rm", "-rf", str(node.root)], check=True)
    # The watchdog looks every 0.5 s.
    wait_until(lambda: not alive(pid), 10, f"the agent {pid} to exit")


def alive(pid):
    """Running (not gone, not a zombie waiting for its reaper)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_config_prints_the_kubeconfig(microk8s_sim):
    node = microk8s_sim(install="1.32/stable")
    config = node.run(["microk8s", "config"])
    assert config.returncode == 0 and config.stdout.endswith("\n\n")
    parsed = yaml.safe_load(config.stdout)
    assert parsed["clusters"][0]["cluster"]["server"] == f"https://{node.address}:16443"
    assert parsed["contexts"][0]["name"] == "microk8s"
    loopback = yaml.safe_load(node.run(["microk8s", "config", "-l"]).stdout)
    assert loopback["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:16443"


def test_agent_exits_with_its_owner_process(tmp_path):
    script = (
        "import sys\n"
        "from kubesalt.sim.microk8s import SimNode\n"
        "node = SimNode(sys.argv[1], sys.argv[2])\n"
        "node.install('1.32/stable')\n"
        "print(open(node.host.sim_dir / 'cluster-agent.pid').read().split()[0], flush=True)\n"
        "sys.stdin.read()\n"
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "host"), free_sim_address()],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
    )
    try:
        pid = int(owner.stdout.readline())
        assert alive(pid)
    finally:
        owner.kill()  # no cleanup at all: the watchdog must notice
        owner.wait(timeout=30)
    wait_until(lambda: not alive(pid), 10, f"the agent {pid} to exit")
