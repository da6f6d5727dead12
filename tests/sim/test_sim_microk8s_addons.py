"""microk8s enable / disable: grammar, messages, prompts, exit codes."""

import pytest
import yaml


@pytest.fixture(scope="module")
def node(microk8s_sim_module):
    return microk8s_sim_module(install="1.32/stable")


def addon_state(node, name):
    return node.run(["microk8s", "status", "-a", name]).stdout.strip()


def test_already_enabled_infers_repository(node):
    result = node.run(["microk8s", "enable", "dns"])
    assert result.returncode == 0
    assert result.stderr == "Infer repository core for addon dns\n"
    assert result.stdout == "Addon core/dns is already enabled\n"
    explicit = node.run(["microk8s", "enable", "core/dns"])
    assert (explicit.stdout, explicit.stderr) == ("Addon core/dns is already enabled\n", "")


def test_unknown_addons(node):
    missing = node.run(["microk8s", "enable", "nope"])
    assert missing.returncode == 1
    assert missing.stderr == "Addon nope was not found in any repository\n"
    community = node.run(["microk8s", "enable", "istio"])
    assert community.returncode == 1
    assert community.stdout == (
        "To use the community maintained flavor enable the respective repository:\n\n"
        "    microk8s enable community\n\n"
    )
    quirk = node.run(["microk8s", "enable", "core/doesnotexist"])
    assert (quirk.returncode, quirk.stdout) == (0, "Addon core/doesnotexist not found\n")
    usage = node.run(["microk8s", "enable"])
    assert usage.returncode == 2
    assert usage.stderr.endswith("Error: Missing argument 'ADDONS...'.\n")


def test_enable_disable_round_trip_with_args(node):
    assert addon_state(node, "metallb") == "disabled"
    enabled = node.run(["microk8s", "enable", "metallb:10.64.140.43-10.64.140.49"])
    assert enabled.returncode == 0
    assert enabled.stdout.endswith("MetalLB is enabled\n")
    assert addon_state(node, "metallb") == "enabled"
    assert node.run(["microk8s", "enable", "metallb"]).stdout == (
        "Addon core/metallb is already enabled\n"
    )
    disabled = node.run(["microk8s", "disable", "metallb"])
    assert disabled.returncode == 0 and disabled.stdout.endswith("MetalLB is terminated\n")
    assert node.run(["microk8s", "disable", "metallb"]).stdout == (
        "Addon core/metallb is already disabled\n"
    )
    mixed = node.run(["microk8s", "enable", "metallb:10.0.0.1-10.0.0.5", "--foo"])
    assert mixed.returncode == 1
    assert mixed.stdout.startswith("Can't pass string arguments and flag arguments simultaneously!")


def test_metallb_prompt(node):
    eof = node.run(["microk8s", "enable", "metallb"], input="")
    assert eof.returncode == 1
    assert eof.stdout.startswith("Enter each IP address range delimited by comma")
    invalid = node.run(["microk8s", "enable", "metallb"], input="banana\n")
    assert invalid.returncode == 1
    assert invalid.stdout.endswith("Your input value (banana) is not a valid IP Range\n")
    typed = node.run(["microk8s", "enable", "metallb"], input="10.0.0.1-10.0.0.9\n")
    assert typed.returncode == 0
    assert node.run(["microk8s", "disable", "metallb"]).returncode == 0


def test_helm_and_ha_cluster_cannot_be_disabled(node):
    helm = node.run(["microk8s", "disable", "helm3"])
    assert (helm.returncode, helm.stdout) == (0, "Helm comes pre-installed with MicroK8s\n")
    assert addon_state(node, "helm3") == "enabled"
    ha = node.run(["microk8s", "disable", "ha-cluster"])
    assert ha.returncode == 2
    assert ha.stdout == (
        "Disabling HA will reset your cluster in a clean state.\n"
        "Any running workloads will be stopped and any cluster configuration will be lost.\n"
        "As this is a single node cluster and this is a destructive operation,\n"
        "please use the '--force' flag.\n"
    )
    assert addon_state(node, "ha-cluster") == "enabled"


def test_hostpath_storage_disable_prompt(node):
    assert node.run(["microk8s", "enable", "hostpath-storage"]).stdout.endswith(
        "Storage will be available soon.\n"
    )
    assert addon_state(node, "storage") == "enabled"  # the alias shares the check
    declined = node.run(["microk8s", "disable", "hostpath-storage"], input="n\n")
    assert declined.returncode == 1
    assert declined.stdout.endswith(
        "Remove PVC storage at /var/snap/microk8s/common/default-storage ? (Y/N): "
    )
    # The storage class was removed before the question: disabled anyway, data kept.
    assert addon_state(node, "hostpath-storage") == "disabled"
    assert (node.root / "var/snap/microk8s/common/default-storage").is_dir()
    node.run(["microk8s", "enable", "hostpath-storage"])
    destroyed = node.run(["microk8s", "disable", "hostpath-storage:destroy-storage"])
    assert destroyed.returncode == 0
    assert not (node.root / "var/snap/microk8s/common/default-storage").exists()


def test_community_repository_and_dns_args(node):
    assert node.run(["microk8s", "enable", "community"]).returncode == 0
    status = yaml.safe_load(node.run(["microk8s", "status", "--format", "yaml"]).stdout)
    community = {a["name"]: a for a in status["addons"] if a["repository"] == "community"}
    assert community["multus"]["version"] == 3.9  # a float once parsed, as upstream
    assert addon_state(node, "community") == "enabled"
    assert node.run(["microk8s", "disable", "dns"]).returncode == 0
    bad = node.run(["microk8s", "enable", "dns:8.8.8.8,not-an-ip"])
    assert bad.returncode == 1
    assert bad.stdout == "Your input value (not-an-ip) is not a valid and reachable IP address\n"
    assert node.run(["microk8s", "enable", "dns:1.1.1.1"]).returncode == 0
    assert addon_state(node, "dns") == "enabled"
