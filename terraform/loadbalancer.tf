# The Kubernetes API of a highly available cluster (more than one control plane): an
# Octavia load balancer with its VIP on the public network (behind the router, so the API
# floating IP can sit on it), a TCP listener on 16443, a pool of every control plane
# (members on the private network) and a TCP health monitor that takes a stopped control
# plane out of the pool. The VIP and the floating IP are extra SANs of every control plane's
# certificate (pillar kubesalt:microk8s:extra_sans, api_address). One control plane: no load
# balancer, the floating IP stays on the first control plane.

locals {
  kube_api_lb = var.num_control_planes > 1
  # Who may open the API through the load balancer (Octavia's allowed_cidrs): the operators,
  # and the cluster's own networks (the bastion, and private hosts NATed by it).
  kube_api_lb_sources = distinct(concat(var.operator_cidrs, [var.public_cidr, var.private_cidr]))
}

resource "openstack_lb_loadbalancer_v2" "kube_api" {
  count         = local.kube_api_lb ? 1 : 0
  name          = "${var.cluster_name}-kube-api"
  description   = "Kubernetes API (16443) of every control plane"
  vip_subnet_id = local.public_subnet_id
  vip_address   = cidrhost(var.public_cidr, 30)
}

resource "openstack_lb_listener_v2" "kube_api" {
  count           = local.kube_api_lb ? 1 : 0
  name            = "${var.cluster_name}-kube-api"
  loadbalancer_id = openstack_lb_loadbalancer_v2.kube_api[0].id
  protocol        = "TCP"
  protocol_port   = 16443
  allowed_cidrs   = local.kube_api_lb_sources
}

resource "openstack_lb_pool_v2" "kube_api" {
  count       = local.kube_api_lb ? 1 : 0
  name        = "${var.cluster_name}-kube-api"
  listener_id = openstack_lb_listener_v2.kube_api[0].id
  protocol    = "TCP"
  lb_method   = "ROUND_ROBIN"
}

resource "openstack_lb_member_v2" "kube_api" {
  count         = local.kube_api_lb ? var.num_control_planes : 0
  name          = "${var.cluster_name}-${local.control_planes[count.index].hostname}"
  pool_id       = openstack_lb_pool_v2.kube_api[0].id
  address       = openstack_networking_port_v2.control_plane[count.index].all_fixed_ips[0]
  protocol_port = 16443
  subnet_id     = openstack_networking_subnet_v2.private.id
}

# A control plane that stops accepting connections on 16443 is out of the pool after
# max_retries_down failed checks (delay seconds apart), back in after max_retries good ones.
resource "openstack_lb_monitor_v2" "kube_api" {
  count            = local.kube_api_lb ? 1 : 0
  name             = "${var.cluster_name}-kube-api"
  pool_id          = openstack_lb_pool_v2.kube_api[0].id
  type             = "TCP"
  delay            = 5
  timeout          = 3
  max_retries      = 2
  max_retries_down = 2
}

# The load balancer reaches the members from its own address on the private network.
resource "openstack_networking_secgroup_rule_v2" "kube_api_from_load_balancer" {
  count             = local.kube_api_lb ? 1 : 0
  security_group_id = openstack_networking_secgroup_v2.kube_api.id
  direction         = "ingress"
  ethertype         = "IPv4"
  protocol          = "tcp"
  port_range_min    = 16443
  port_range_max    = 16443
  remote_ip_prefix  = var.private_cidr
}
