"""Static facts the simulator reproduces: releases, the addon catalogue, the CSR template.

Versions and revisions per track are SIMULATED (plausible, not the store's real numbers),
except 1.32 -> v1.32.3 rev 7964, which the reference quotes.
"""

from __future__ import annotations

# track -> (version, revision); documented as simulated in docs/simulators.md.
RELEASES = {
    "1.28": ("v1.28.15", "7205"),
    "1.29": ("v1.29.15", "7431"),
    "1.30": ("v1.30.11", "7680"),
    "1.31": ("v1.31.7", "7788"),
    "1.32": ("v1.32.3", "7964"),
    "1.33": ("v1.33.4", "8205"),
    "1.34": ("v1.34.1", "8401"),
    "1.35": ("v1.35.0", "8612"),
}
DEFAULT_TRACK = "1.35"  # what `snap install microk8s` without a channel tracks ("latest")
RISKS = ("stable", "candidate", "beta", "edge")

CLUSTER_AGENT_PORT = 25000
DQLITE_PORT = 19001
API_SERVER_PORT = 16443

# The core repository (release branch 1.32): name -> (description, version, check kind).
# check kind: "lock" (a lock file under $SNAP_DATA/var/lock), "bin" (${SNAP}/bin/helm exists),
# "repo" (the community repository is present), "k8s" (an object in the cluster: shared state).
CORE_ADDONS = {
    "cert-manager": ("Cloud native certificate management", "1.8.0", "k8s"),
    "cis-hardening": ("Apply CIS K8s hardening", "1.0.0", "k8s"),
    "community": ("The community addons repository", "", "repo"),
    "dashboard": ("The Kubernetes dashboard", "2.6.0", "k8s"),
    "dns": ("CoreDNS", "1.10.1", "k8s"),
    "gpu": ("Alias to nvidia add-on", "22.9.1", "k8s"),
    "ha-cluster": ("Configure high availability on the current node", "0.1.0", "lock"),
    "helm": ("Helm - the package manager for Kubernetes", "3.9.1", "bin"),
    "helm3": ("Helm 3 - the package manager for Kubernetes", "3.9.1", "bin"),
    "host-access": ("Allow Pods connecting to Host services smoothly", "1.0.0", "k8s"),
    "hostpath-storage": (
        "Storage class; allocates storage from host directory",
        "1.4.2",
        "k8s",
    ),
    "ingress": ("Ingress controller for external access", "1.8.0", "k8s"),
    "kube-ovn": ("An advanced network fabric for Kubernetes", "1.10.0-alpha1", "k8s"),
    "mayastor": ("OpenEBS MayaStor", "2.0.0-microk8s-1", "k8s"),
    "metallb": ("Loadbalancer for your Kubernetes cluster", "0.13.3", "k8s"),
    "metrics-server": (
        "K8s Metrics Server for API access to service metrics",
        "0.6.3",
        "k8s",
    ),
    "minio": ("MinIO object storage", "4.5.1", "k8s"),
    "nvidia": (
        "NVIDIA hardware (GPU and network) support",
        "gpu=22.9.1/network=23.7.0/microk8s-1",
        "k8s",
    ),
    "observability": (
        "A lightweight observability stack for logs, traces and metrics",
        "0.57.0",
        "k8s",
    ),
    "prometheus": ("Prometheus operator for monitoring and logging", "v0.8.0", "k8s"),
    "rbac": ("Role-Based Access Control for authorisation", "", "k8s"),
    "registry": ("Private image registry exposed on localhost:32000", "2.8.1", "k8s"),
    "rook-ceph": ("Distributed Ceph storage using Rook", "1.11.9", "k8s"),
    "storage": ("Alias to hostpath-storage add-on, deprecated", "1.4.0", "k8s"),
}

# A representative part of the community repository (versions simulated; multus and gopaddle
# keep the float-looking versions a YAML parser turns into numbers).
COMMUNITY_ADDONS = {
    "argocd": ("Argo CD is a declarative continuous deployment for Kubernetes.", "4.6.3"),
    "cilium": ("SDN, fast with full network policy", "1.15.2"),
    "gopaddle": ("DevSecOps and Multicloud Kubernetes Platform", "5.0"),
    "istio": ("Core Istio service mesh services", "1.19.0"),
    "linkerd": ("Linkerd is a service mesh for Kubernetes and other frameworks", "2.14.1"),
    "multus": ("Multus CNI enables attaching multiple network interfaces to pods", "3.9"),
    "nfs": ("NFS Server Provisioner", "1.4.0"),
    "traefik": ("traefik Ingress controller", "2.10.4"),
}

# Addons enabled in the datastore of a fresh install (dns via the default launch
# configuration since 1.27); ha-cluster, helm and helm3 are enabled by files.
DEFAULT_K8S_ADDONS = ("dns",)

# The last line of a successful hook, per addon (reference section 6.4).
ENABLE_MESSAGES = {
    "dns": "DNS is enabled",
    "metallb": "MetalLB is enabled",
    "rbac": "RBAC is enabled",
    "metrics-server": "Metrics-Server is enabled",
    "ingress": "Ingress is enabled",
    "hostpath-storage": "Storage will be available soon.",
    "observability": "Observability has been enabled (user/pass: admin/prom-operator)",
    "community": "Community repository is now enabled",
    "cert-manager": "cert-manager is enabled",
    "dashboard": "Dashboard is enabled",
    "registry": "The registry is enabled",
}
DISABLE_MESSAGES = {
    "dns": "DNS is disabled",
    "metallb": "MetalLB is terminated",
    "rbac": "RBAC is disabled",
    "metrics-server": "Metrics-Server is disabled",
    "ingress": "Ingress is disabled",
    "hostpath-storage": "Storage space reclaimed.",
    "observability": "Observability disabled",
    "community": "Community repository is now disabled",
    "ha-cluster": "HA disabled",
}

CSR_TEMPLATE = """\
[ req ]
default_bits = 2048
prompt = no
default_md = sha256
req_extensions = req_ext
distinguished_name = dn

[ dn ]
C = GB
ST = Canonical
L = Canonical
O = Canonical
OU = Canonical
CN = 127.0.0.1

[ req_ext ]
subjectAltName = @alt_names

[ alt_names ]
DNS.1 = kubernetes
DNS.2 = kubernetes.default
DNS.3 = kubernetes.default.svc
DNS.4 = kubernetes.default.svc.cluster
DNS.5 = kubernetes.default.svc.cluster.local
IP.1 = 127.0.0.1
IP.2 = 10.152.183.1
#MOREIPS

[ v3_ext ]
authorityKeyIdentifier=keyid,issuer:always
basicConstraints=CA:FALSE
keyUsage=keyEncipherment,dataEncipherment,digitalSignature
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=@alt_names
"""

NOT_RUNNING = "microk8s is not running. Use microk8s inspect for a deeper inspection."
STOPPED = "microk8s is not running, try microk8s start"
WORKER_PREFIX = "This MicroK8s deployment is acting as a node in a cluster."


def track_of(channel: str) -> str:
    """Return the track of CHANNEL ("1.32/stable" -> "1.32", "latest/edge" -> default)."""
    track = channel.split("/", maxsplit=1)[0]
    return DEFAULT_TRACK if track == "latest" or track in RISKS else track
