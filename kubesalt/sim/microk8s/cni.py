"""The pod and service networks, as the snap's install hook sets them up.

Upstream (canonical/microk8s): ``microk8s-resources/default-args/cni-env`` is copied to
``$SNAP_DATA/args/cni-env``; a launch configuration's ``extraCNIEnv`` then edits it (pre-init);
``scripts/generate-cni.sh`` sources it, refuses a missing CIDR, sets kube-controller-manager's
``--cluster-cidr``/``--service-cluster-ip-range``, kube-apiserver's
``--service-cluster-ip-range`` and kube-proxy's ``--cluster-cidr``, and writes
``args/cni-network/cni.yaml`` from Calico's manifest with ``10.1.0.0/16`` replaced by the pool.
Calico's ``IP_AUTODETECTION_METHOD`` stays ``first-found`` until a join patches it to
``can-reach=<peer>`` (``common/cluster/utils.py`` ``patch_cni``). Only the lines of the
manifest this module reads are written.
"""

from __future__ import annotations

import re

from kubesalt.sim.microk8s.host import Host
from kubesalt.sim.microk8s.host import write_file
from kubesalt.sim.microk8s.launchconf import set_args

DEFAULT_CNI_ENV = """\
# Choose CNI to deploy. Only 'calico' is supported at the moment
CNI=calico

# IPv4 configuration
IPv4_SUPPORT=true
IPv4_CLUSTER_CIDR=10.1.0.0/16
IPv4_SERVICE_CIDR=10.152.183.0/24

# IPv6 configuration
IPv6_SUPPORT=false
# IPv6_CLUSTER_CIDR=fd01::/64
# IPv6_SERVICE_CIDR=fd98::/108

# Calico-specific configuration settings
# CALICO_VETH_MTU=1450
"""
CALICO_NODE_ENV = """\
# calico-node container env (excerpt of upgrade-scripts/000-switch-to-calico/resources/calico.yaml)
            - name: IP_AUTODETECTION_METHOD
              value: "first-found"
            - name: CALICO_IPV4POOL_VXLAN
              value: "Always"
            - name: CALICO_IPV4POOL_CIDR
              value: "10.1.0.0/16"
"""


class CniError(Exception):
    pass


def _env(host: Host) -> dict:
    values = {}
    try:
        text = (host.data / "args/cni-env").read_text()
    except OSError:
        return values
    for line in text.splitlines():
        match = re.match(r"^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$", line)
        if match:
            values[match.group(1)] = match.group(2).strip().strip("\"'")
    return values


def generate(host: Host) -> None:
    """``generate-cni.sh`` (IPv4 only: IPv6 is refused as not simulated)."""
    env = _env(host)
    if env.get("IPv6_SUPPORT") == "true":
        raise CniError("IPv6_SUPPORT=true is not simulated")
    if env.get("IPv4_SUPPORT") != "true":
        raise CniError("Failed: At least one of IPv4_SUPPORT or IPv6_SUPPORT must be true")
    for key in ("IPv4_CLUSTER_CIDR", "IPv4_SERVICE_CIDR"):
        if not env.get(key):
            raise CniError(f"Failed: IPv4_SUPPORT is true, but no {key} was set")
    cluster, service = env["IPv4_CLUSTER_CIDR"], env["IPv4_SERVICE_CIDR"]
    set_args(
        host,
        "kube-controller-manager",
        {"--service-cluster-ip-range": service, "--cluster-cidr": cluster},
    )
    set_args(host, "kube-apiserver", {"--service-cluster-ip-range": service})
    set_args(host, "kube-proxy", {"--cluster-cidr": cluster})
    if env.get("CNI", "calico") != "calico":
        raise CniError("CNI must be set to 'calico'")
    write_file(
        host.data / "args/cni-network/cni.yaml",
        CALICO_NODE_ENV.replace("10.1.0.0/16", cluster),
    )


def calico_env(host: Host) -> dict:
    """The calico-node env values the manifest carries (name -> value)."""
    try:
        text = (host.data / "args/cni-network/cni.yaml").read_text()
    except OSError:
        return {}
    pairs = re.findall(r'- name: (\S+)\n\s+value: "([^"]*)"', text)
    return dict(pairs)


def pool(host: Host) -> str | None:
    """Calico's IPv4 pool, as the manifest gives it."""
    return calico_env(host).get("CALICO_IPV4POOL_CIDR")


def patch_autodetect(host: Host, can_reach: str) -> bool:
    """``MaybePatchCalicoAutoDetectionMethod`` (cluster agent, accepting side) and
    ``patch_cni`` (``join``, joining side): ``first-found`` becomes ``can-reach=<peer>``; any
    other method is left alone. True when the manifest changed."""
    path = host.data / "args/cni-network/cni.yaml"
    try:
        text = path.read_text()
    except OSError:
        return False
    new = re.sub(
        r"(IP_AUTODETECTION_METHOD(.*\n.*)?)first-found", rf"\g<1>can-reach={can_reach}", text
    )
    if new == text:
        return False
    write_file(path, new)
    return True


def kubelet_node_ip(host: Host) -> str | None:
    """The kubelet's ``--node-ip``, when set."""
    try:
        text = (host.data / "args/kubelet").read_text()
    except OSError:
        return None
    match = re.search(r"^--node-ip=(\S+)$", text, re.MULTILINE)
    return match.group(1) if match else None


def cluster_cidr(host: Host) -> str | None:
    """kube-proxy's ``--cluster-cidr`` (what the cluster agent hands a joining node)."""
    try:
        text = (host.data / "args/kube-proxy").read_text()
    except OSError:
        return None
    match = re.search(r"^--cluster-cidr=(\S+)$", text, re.MULTILINE)
    return match.group(1) if match else None
