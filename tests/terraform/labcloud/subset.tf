# A small configuration for the lab cloud's apply-time rules: one network behind a router, a
# port with a fixed address, a floating IP, a volume attached at boot to an instance.
terraform {
  required_providers {
    openstack = {
      source  = "terraform-provider-openstack/openstack"
      version = "~> 3.0"
    }
  }
}

variable "with_instance" {
  type    = bool
  default = true
}

data "openstack_networking_network_v2" "external" {
  name     = "public"
  external = true
}

data "openstack_images_image_v2" "debian" {
  name        = "debian-12-genericcloud-amd64"
  most_recent = true
}

resource "openstack_networking_network_v2" "net" {
  name = "subset"
}

resource "openstack_networking_subnet_v2" "net" {
  network_id = openstack_networking_network_v2.net.id
  cidr       = "192.168.50.0/24"
}

resource "openstack_networking_router_v2" "router" {
  name                = "subset"
  external_network_id = data.openstack_networking_network_v2.external.id
}

resource "openstack_networking_router_interface_v2" "net" {
  router_id = openstack_networking_router_v2.router.id
  subnet_id = openstack_networking_subnet_v2.net.id
}

resource "openstack_networking_secgroup_v2" "web" {
  name = "subset-web"
}

resource "openstack_networking_port_v2" "vm" {
  network_id         = openstack_networking_network_v2.net.id
  security_group_ids = [openstack_networking_secgroup_v2.web.id]
  fixed_ip {
    subnet_id  = openstack_networking_subnet_v2.net.id
    ip_address = "192.168.50.10"
  }
}

resource "openstack_networking_floatingip_v2" "vm" {
  pool       = "public"
  port_id    = openstack_networking_port_v2.vm.id
  depends_on = [openstack_networking_router_interface_v2.net]
}

resource "openstack_blockstorage_volume_v3" "data" {
  name = "subset-data"
  size = 1
}

resource "openstack_compute_instance_v2" "vm" {
  count       = var.with_instance ? 1 : 0
  name        = "vm"
  image_id    = data.openstack_images_image_v2.debian.id
  flavor_name = "m1.small"
  user_data   = "#cloud-config\n"
  network {
    port = openstack_networking_port_v2.vm.id
  }
  block_device {
    uuid                  = data.openstack_images_image_v2.debian.id
    source_type           = "image"
    destination_type      = "local"
    boot_index            = 0
    delete_on_termination = true
  }
  block_device {
    uuid                  = openstack_blockstorage_volume_v3.data.id
    source_type           = "volume"
    destination_type      = "volume"
    boot_index            = -1
    delete_on_termination = false
  }
}

output "fip" {
  value = openstack_networking_floatingip_v2.vm.address
}
