"""Facts about MicroK8s that the module, the states and the parsers share.

Everything here was read from MicroK8s' own source (canonical/microk8s, release 1.32, and
canonical/microk8s-cluster-agent); docs/reference/microk8s.md lists each fact with the file
it comes from and docs/simulators.md what the simulator mirrors:
paths, the addon catalogue of release 1.32 (names identical 1.28-1.35), guard messages the
CLI prints, and the limits ``microk8s join`` / ``add-node`` enforce.
"""

# Snap data of the running revision; the minion option ``microk8s.snap_data`` overrides it
# (the simulator keeps a host's files under ROOT/var/snap/microk8s/current).
DEFAULT_SNAP_DATA = "/var/snap/microk8s/current"
# Where snapd puts the commands; a salt-minion started by systemd often lacks it on PATH.
DEFAULT_SNAP_BIN = "/snap/bin"

CSR_TEMPLATE = "certs/csr.conf.template"
SERVER_CERT = "certs/server.crt"
CLUSTER_TOKENS = "credentials/cluster-tokens.txt"
PERSISTENT_TOKENS = "credentials/persistent-cluster-tokens.txt"
WORKER_LOCK = "var/lock/clustered.lock"
HA_LOCK = "var/lock/ha-cluster"

CLUSTER_AGENT_PORT = 25000

ROLE_CONTROL_PLANE = "control-plane"
ROLE_WORKER = "worker"

CHANNEL_RISKS = ("stable", "candidate", "beta", "edge")
CERT_NAMES = ("server.crt", "front-proxy-client.crt", "ca.crt")

MIN_TOKEN_LENGTH = 32
MIN_CHECK_LENGTH = 12

# Core addons of release 1.32 as ``status`` lists them: name -> description.
CORE_ADDONS = {
    "cert-manager": "Cloud native certificate management",
    "cis-hardening": "Apply CIS K8s hardening",
    "community": "The community addons repository",
    "dashboard": "The Kubernetes dashboard",
    "dns": "CoreDNS",
    "gpu": "Alias to nvidia add-on",
    "ha-cluster": "Configure high availability on the current node",
    "helm": "Helm - the package manager for Kubernetes",
    "helm3": "Helm 3 - the package manager for Kubernetes",
    "host-access": "Allow Pods connecting to Host services smoothly",
    "hostpath-storage": "Storage class; allocates storage from host directory",
    "ingress": "Ingress controller for external access",
    "kube-ovn": "An advanced network fabric for Kubernetes",
    "mayastor": "OpenEBS MayaStor",
    "metallb": "Loadbalancer for your Kubernetes cluster",
    "metrics-server": "K8s Metrics Server for API access to service metrics",
    "minio": "MinIO object storage",
    "nvidia": "NVIDIA hardware (GPU and network) support",
    "observability": "A lightweight observability stack for logs, traces and metrics",
    "prometheus": "Prometheus operator for monitoring and logging",
    "rbac": "Role-Based Access Control for authorisation",
    "registry": "Private image registry exposed on localhost:32000",
    "rook-ceph": "Distributed Ceph storage using Rook",
    "storage": "Alias to hostpath-storage add-on, deprecated",
}

# Addons of the community repository (present once ``microk8s enable community`` ran).
COMMUNITY_ADDONS = frozenset(
    {
        "amd",
        "argocd",
        "cilium",
        "cloudnative-pg",
        "dashboard-ingress",
        "easyhaproxy",
        "falco",
        "fluentd",
        "forgejo",
        "gopaddle",
        "inaccel",
        "istio",
        "jaeger",
        "kata",
        "keda",
        "knative",
        "kubearmor",
        "kwasm",
        "linkerd",
        "microcks",
        "multus",
        "nfs",
        "ngrok",
        "openebs",
        "openfaas",
        "osm-edge",
        "parking",
        "portainer",
        "shifu",
        "sosivio",
        "sriov-device-plugin",
        "stunner",
        "traefik",
        "trivy",
    }
)

# Addons whose enable hook prompts on stdin without arguments (and then fails, as Salt gives
# it no input): core-addons addons/metallb/enable reads the IP ranges when none is given.
ADDONS_NEEDING_ARGS = {
    "metallb": "the IP ranges to hand out, e.g. ['10.64.140.43-10.64.140.49']",
}

# Addons whose disable only prints a note: they stay enabled whatever we do.
UNDISABLEABLE_ADDONS = frozenset({"helm", "helm3"})
# Disabling it wipes the cluster (switches to etcd); a module must refuse.
REFUSED_DISABLE_ADDONS = frozenset({"ha-cluster"})
# Messages the CLI prints (exact texts, docs/reference/microk8s.md "Status").
MSG_STOPPED = "microk8s is not running, try microk8s start"
MSG_NOT_RUNNING = "microk8s is not running. Use microk8s inspect for a deeper inspection."
MSG_WORKER_PREFIX = "This MicroK8s deployment is acting as a node in a cluster."
MSG_PERMISSION = "Insufficient permissions to access MicroK8s."
MSG_LOW_MEMORY = "This node does not have enough RAM to host the Kubernetes control plane"
MSG_SNAP_NOT_INSTALLED = "error: no matching snaps installed"
