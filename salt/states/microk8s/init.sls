# A MicroK8s node: installed and running. Its place in the cluster is microk8s.master (the
# bootstrap control plane) or microk8s.joined (the other nodes).
include:
  - microk8s.base
