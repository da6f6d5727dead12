data "openstack_networking_network_v2" "external" {
  name     = var.external_network_name
  external = true
}

# The public network: created here, or an existing one (existing_public_network) that is
# routed already; a new one is attached to a new router or to existing_router_id.
locals {
  public_network_id = var.existing_public_network != null ? var.existing_public_network.network_id : openstack_networking_network_v2.public[0].id
  public_subnet_id  = var.existing_public_network != null ? var.existing_public_network.subnet_id : openstack_networking_subnet_v2.public[0].id
}

resource "openstack_networking_network_v2" "public" {
  count          = var.existing_public_network == null ? 1 : 0
  name           = "${var.cluster_name}-public"
  admin_state_up = true
}

resource "openstack_networking_subnet_v2" "public" {
  count           = var.existing_public_network == null ? 1 : 0
  name            = "${var.cluster_name}-public"
  network_id      = openstack_networking_network_v2.public[0].id
  cidr            = var.public_cidr
  ip_version      = 4
  gateway_ip      = cidrhost(var.public_cidr, 1)
  dns_nameservers = var.dns_nameservers

  allocation_pool {
    start = cidrhost(var.public_cidr, 200 * 256)
    end   = cidrhost(var.public_cidr, -2)
  }
}

# The private network's gateway is the bastion (it forwards and NATs): no router on it, so
# nothing private is reachable from outside except through the bastion.
resource "openstack_networking_network_v2" "private" {
  name           = "${var.cluster_name}-private"
  admin_state_up = true
}

resource "openstack_networking_subnet_v2" "private" {
  name            = "${var.cluster_name}-private"
  network_id      = openstack_networking_network_v2.private.id
  cidr            = var.private_cidr
  ip_version      = 4
  gateway_ip      = cidrhost(var.private_cidr, 1)
  dns_nameservers = var.dns_nameservers

  allocation_pool {
    start = cidrhost(var.private_cidr, 200 * 256)
    end   = cidrhost(var.private_cidr, -2)
  }
}

resource "openstack_networking_router_v2" "main" {
  count               = var.existing_public_network == null && var.existing_router_id == null ? 1 : 0
  name                = "${var.cluster_name}-router"
  admin_state_up      = true
  external_network_id = data.openstack_networking_network_v2.external.id
}

resource "openstack_networking_router_interface_v2" "public" {
  count     = var.existing_public_network == null ? 1 : 0
  router_id = var.existing_router_id != null ? var.existing_router_id : openstack_networking_router_v2.main[0].id
  subnet_id = openstack_networking_subnet_v2.public[0].id
}

# Deployments made before the public network became optional keep their objects.
moved {
  from = openstack_networking_network_v2.public
  to   = openstack_networking_network_v2.public[0]
}
moved {
  from = openstack_networking_subnet_v2.public
  to   = openstack_networking_subnet_v2.public[0]
}
moved {
  from = openstack_networking_router_v2.main
  to   = openstack_networking_router_v2.main[0]
}
moved {
  from = openstack_networking_router_interface_v2.public
  to   = openstack_networking_router_interface_v2.public[0]
}
