"""The simulated snap and microk8s on one node, driven as a user would (free 127.0.1.x)."""

import yaml

NOT_INSTALLED = "error: no matching snaps installed\n"


def test_snap_install_list_and_already_installed(microk8s_sim):
    node = microk8s_sim()
    listed = node.run(["snap", "list", "microk8s"])
    assert (listed.returncode, listed.stdout, listed.stderr) == (1, "", NOT_INSTALLED)
    absent = node.run(["microk8s", "status"])
    assert (absent.returncode, absent.stderr) == (127, "microk8s: command not found\n")

    first = node.run(["snap", "install", "microk8s", "--classic", "--channel=1.32/stable"])
    assert first.returncode == 0
    assert first.stdout == "microk8s (1.32/stable) v1.32.3 from Canonical\u2713 installed\n"
    assert (node.root / "snap/bin/microk8s").exists()
    assert node.agent_running()

    again = node.run(["snap", "install", "microk8s", "--classic", "--channel=1.32/stable"])
    assert again.returncode == 0
    assert "snap \"microk8s\" is already installed, see 'snap help refresh'" in again.stderr

    listed = node.run(["snap", "list", "microk8s"])
    assert listed.returncode == 0
    assert listed.stdout == (
        "Name      Version  Rev   Tracking     Publisher   Notes\n"
        "microk8s  v1.32.3  7964  1.32/stable  canonical\u2713  classic\n"
    )
    version = node.run(["microk8s", "version"])
    assert version.stdout == "MicroK8s v1.32.3 revision 7964\n"


def test_snap_install_validates_channel_and_classic(microk8s_sim):
    node = microk8s_sim()
    bad_risk = node.run(["snap", "install", "microk8s", "--classic", "--channel=1.32/sable"])
    assert bad_risk.returncode == 1
    assert bad_risk.stderr == "error: invalid risk in channel name: 1.32/sable\n"
    no_track = node.run(["snap", "install", "microk8s", "--classic", "--channel=9.99/stable"])
    assert no_track.returncode == 1
    assert 'snap "microk8s" is not available on 9.99/stable' in no_track.stderr
    no_classic = node.run(["snap", "install", "microk8s", "--channel=1.32/stable"])
    assert no_classic.returncode == 1
    assert "repeat the command including --classic." in no_classic.stderr
    assert not (node.root / "snap/bin/microk8s").exists()
    assert not node.agent_running()


def test_install_lays_out_the_real_paths(microk8s_sim):
    node = microk8s_sim(install="1.32/stable")
    data = node.root / "var/snap/microk8s"
    assert (data / "current").resolve() == (data / "7964").resolve()
    assert (data / "current/var/lock/ha-cluster").exists()
    template = (data / "current/certs/csr.conf.template").read_text()
    assert "IP.2 = 10.152.183.1\n#MOREIPS\n\n[ v3_ext ]" in template
    rendered = (data / "current/certs/csr.conf").read_text()
    assert f"IP.3 = {node.address}" in rendered and "#MOREIPS" not in rendered
    assert (data / "common/addons/core/addons.yaml").exists()


def test_status_yaml_of_a_fresh_node(microk8s_sim):
    node = microk8s_sim(install="1.32/stable")
    result = node.run(["microk8s", "status", "--format", "yaml"])
    assert result.returncode == 0
    assert result.stdout.startswith(
        "microk8s:\n  running: True\nhigh-availability:\n  enabled: True\n  nodes:\n"
        "    - address: 127.0.0.1:19001\n      role: voter\naddons:\n  - name: dns\n"
    )
    assert "    description: The community addons repository\n    version:  \n" in result.stdout
    status = yaml.safe_load(result.stdout)
    enabled = [a["name"] for a in status["addons"] if a["status"] == "enabled"]
    assert enabled == ["dns", "ha-cluster", "helm", "helm3"]
    names = [a["name"] for a in status["addons"]]
    assert names[4:] == sorted(names[4:])


def test_status_formats_addon_flag_and_stopped(microk8s_sim):
    node = microk8s_sim(install="1.32/stable")
    short = node.run(["microk8s", "status", "--format", "short"]).stdout.splitlines()
    assert short[:3] == ["microk8s is running", "addons:", "core/dns: enabled"]
    pretty = node.run(["microk8s", "status"]).stdout.splitlines()
    assert pretty[:4] == [
        "microk8s is running",
        "high-availability: no",
        "  datastore master nodes: 127.0.0.1:19001",
        "  datastore standby nodes: none",
    ]
    assert "    dns                  # (core) CoreDNS" in pretty
    assert node.run(["microk8s", "status", "-a", "core/dns"]).stdout == "enabled\n"
    assert node.run(["microk8s", "status", "-a", "nope"]).stdout == "disabled\n"
    bad = node.run(["microk8s", "status", "--format", "json"])
    assert bad.returncode == 2 and "invalid choice: 'json'" in bad.stderr

    stop = node.run(["microk8s", "stop"])
    assert (stop.returncode, stop.stdout) == (0, "Stopped.\nStopped.\n")
    assert not node.agent_running()
    for argv in (["microk8s", "status"], ["microk8s", "status", "--format", "yaml"]):
        stopped = node.run(argv)
        assert (stopped.returncode, stopped.stdout) == (
            0,
            "microk8s is not running, try microk8s start\n",
        )
    kubectl = node.run(["microk8s", "kubectl", "get", "nodes"])
    assert kubectl.returncode == 1
    assert kubectl.stderr == "microk8s is not running, try microk8s start\n"
    start = node.run(["microk8s", "start"])
    assert (start.returncode, start.stdout) == (0, "")
    assert node.agent_running()


def test_dispatch_and_unknown_subcommand(microk8s_sim):
    node = microk8s_sim(install="1.32/stable")
    unknown = node.run(["microk8s", "frobnicate"])
    assert unknown.returncode == 1
    assert unknown.stdout.startswith(
        "'frobnicate' is not a valid MicroK8s subcommand.\nAvailable subcommands are:\n"
    )
    assert node.run(["microk8s"]).returncode == 1
    assert node.run(["microk8s", "help"]).returncode == 0
    dotted = node.run(["microk8s.version"])
    assert dotted.stdout == "MicroK8s v1.32.3 revision 7964\n"


def test_invocation_log_records_calls(microk8s_sim):
    node = microk8s_sim(install="1.32/stable")
    node.clear_invocations()
    node.run(["microk8s", "status", "-a", "dns"])
    node.run(["microk8s", "frobnicate"])
    calls = node.invocations()
    assert [c["argv"] for c in calls] == [
        ["microk8s", "status", "-a", "dns"],
        ["microk8s", "frobnicate"],
    ]
    assert [c["exit_code"] for c in calls] == [0, 1]
    assert all(c["duration"] >= 0 and c["time"] > 0 for c in calls)
