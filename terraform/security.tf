# Security groups sit on the ports (the provider's advice). Ingress, and nothing else:
#   bastion (public)   22/tcp from operator_cidrs
#   bastion (private)  everything from the private network (it is the NAT gateway)
#   every host         22/tcp from the bastion's private address
#   salt master        4505-4506/tcp (Salt) and 4507/tcp (admission) from the private network
#   cluster members    MicroK8s ports from cluster members only (remote group)
#   control planes     16443/tcp from the bastion's private address; the first one from
#                      operator_cidrs (API)
# Rules about the bastion name its address, never its security group: the bastion's port
# allows every address (allowed_address_pairs 0.0.0.0/0, it forwards for the private network),
# and on ML2/OVS a remote group matches its members' allowed pairs too -- any source.
# Egress keeps OpenStack's default (allow all).

resource "openstack_networking_secgroup_v2" "bastion_public" {
  name        = "${var.cluster_name}-bastion-public"
  description = "SSH to the bastion from the operators' networks"
}

resource "openstack_networking_secgroup_rule_v2" "bastion_ssh" {
  for_each          = toset(var.operator_cidrs)
  security_group_id = openstack_networking_secgroup_v2.bastion_public.id
  direction         = "ingress"
  ethertype         = "IPv4"
  protocol          = "tcp"
  port_range_min    = 22
  port_range_max    = 22
  remote_ip_prefix  = each.value
}

resource "openstack_networking_secgroup_v2" "bastion_private" {
  name        = "${var.cluster_name}-bastion-private"
  description = "The bastion forwards and NATs the private network"
}

resource "openstack_networking_secgroup_rule_v2" "bastion_forward" {
  security_group_id = openstack_networking_secgroup_v2.bastion_private.id
  direction         = "ingress"
  ethertype         = "IPv4"
  remote_ip_prefix  = var.private_cidr
}

resource "openstack_networking_secgroup_v2" "host" {
  name        = "${var.cluster_name}-host"
  description = "Every host: SSH from the bastion only"
}

resource "openstack_networking_secgroup_rule_v2" "host_ssh_from_bastion" {
  security_group_id = openstack_networking_secgroup_v2.host.id
  direction         = "ingress"
  ethertype         = "IPv4"
  protocol          = "tcp"
  port_range_min    = 22
  port_range_max    = 22
  remote_ip_prefix  = "${local.bastion_private_ip}/32"
}

resource "openstack_networking_secgroup_v2" "salt_master" {
  name        = "${var.cluster_name}-salt-master"
  description = "Salt publish and request ports from the private network"
}

resource "openstack_networking_secgroup_rule_v2" "salt_master_ports" {
  security_group_id = openstack_networking_secgroup_v2.salt_master.id
  direction         = "ingress"
  ethertype         = "IPv4"
  protocol          = "tcp"
  port_range_min    = 4505
  port_range_max    = 4506
  remote_ip_prefix  = var.private_cidr
}

# The master's admission step (salt/_engines/minion_admission.py): a node added by a
# later apply sends its credential there to have its key accepted.
resource "openstack_networking_secgroup_rule_v2" "salt_master_admission" {
  security_group_id = openstack_networking_secgroup_v2.salt_master.id
  direction         = "ingress"
  ethertype         = "IPv4"
  protocol          = "tcp"
  port_range_min    = 4507
  port_range_max    = 4507
  remote_ip_prefix  = var.private_cidr
}

resource "openstack_networking_secgroup_v2" "cluster" {
  name        = "${var.cluster_name}-microk8s"
  description = "MicroK8s between cluster members only"
}

locals {
  # MicroK8s: API server, cluster agent (joins), dqlite, kubelet, Calico VXLAN.
  microk8s_member_ports = {
    apiserver     = { protocol = "tcp", port = 16443 }
    cluster-agent = { protocol = "tcp", port = 25000 }
    dqlite        = { protocol = "tcp", port = 19001 }
    kubelet       = { protocol = "tcp", port = 10250 }
    vxlan         = { protocol = "udp", port = 4789 }
  }
}

resource "openstack_networking_secgroup_rule_v2" "cluster_members" {
  for_each          = local.microk8s_member_ports
  security_group_id = openstack_networking_secgroup_v2.cluster.id
  direction         = "ingress"
  ethertype         = "IPv4"
  protocol          = each.value.protocol
  port_range_min    = each.value.port
  port_range_max    = each.value.port
  remote_group_id   = openstack_networking_secgroup_v2.cluster.id
}

resource "openstack_networking_secgroup_v2" "kube_api" {
  name        = "${var.cluster_name}-kube-api"
  description = "Kubernetes API from the bastion and the operators' networks"
}

resource "openstack_networking_secgroup_rule_v2" "kube_api_from_bastion" {
  security_group_id = openstack_networking_secgroup_v2.kube_api.id
  direction         = "ingress"
  ethertype         = "IPv4"
  protocol          = "tcp"
  port_range_min    = 16443
  port_range_max    = 16443
  remote_ip_prefix  = "${local.bastion_private_ip}/32"
}

resource "openstack_networking_secgroup_rule_v2" "kube_api_from_operators" {
  for_each          = var.kube_api_floating_ip ? toset(var.operator_cidrs) : toset([])
  security_group_id = openstack_networking_secgroup_v2.kube_api.id
  direction         = "ingress"
  ethertype         = "IPv4"
  protocol          = "tcp"
  port_range_min    = 16443
  port_range_max    = 16443
  remote_ip_prefix  = each.value
}
