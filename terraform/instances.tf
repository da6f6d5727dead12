# The image every host is built from: base_image_id when set (pinned), else the newest image
# named base_image at the time an instance is created. Instances ignore later changes of
# either (lifecycle below): a new image under the same name never rebuilds a node. Moving a
# node to a new image is a deliberate `terraform apply -replace=...`, one node at a time
# (docs/terraform.md, "Changing the image").
data "openstack_images_image_v2" "base" {
  count       = var.base_image_id == null ? 1 : 0
  name        = var.base_image
  most_recent = true
}

locals {
  image_id = var.base_image_id != null ? var.base_image_id : data.openstack_images_image_v2.base[0].id
}

# --- ports: fixed addresses, security groups on the port -------------------------------

resource "openstack_networking_port_v2" "bastion_public" {
  name               = "${var.cluster_name}-bastion-public"
  network_id         = local.public_network_id
  security_group_ids = [openstack_networking_secgroup_v2.bastion_public.id]

  fixed_ip {
    subnet_id  = local.public_subnet_id
    ip_address = cidrhost(var.public_cidr, 10)
  }
}

resource "openstack_networking_port_v2" "bastion_private" {
  name               = "${var.cluster_name}-bastion-private"
  network_id         = openstack_networking_network_v2.private.id
  security_group_ids = [openstack_networking_secgroup_v2.bastion_private.id, openstack_networking_secgroup_v2.host.id]

  fixed_ip {
    subnet_id  = openstack_networking_subnet_v2.private.id
    ip_address = local.bastion_private_ip
  }

  # The private network's gateway forwards other hosts' traffic: port security must let
  # packets with foreign addresses through this port.
  allowed_address_pairs {
    ip_address = "0.0.0.0/0"
  }
}

resource "openstack_networking_port_v2" "salt_master" {
  name               = "${var.cluster_name}-salt"
  network_id         = openstack_networking_network_v2.private.id
  security_group_ids = [openstack_networking_secgroup_v2.salt_master.id, openstack_networking_secgroup_v2.host.id]

  fixed_ip {
    subnet_id  = openstack_networking_subnet_v2.private.id
    ip_address = cidrhost(var.private_cidr, 5)
  }
}

resource "openstack_networking_port_v2" "control_plane" {
  count              = var.num_control_planes
  name               = "${var.cluster_name}-${local.control_planes[count.index].hostname}"
  network_id         = openstack_networking_network_v2.private.id
  security_group_ids = [openstack_networking_secgroup_v2.cluster.id, openstack_networking_secgroup_v2.kube_api.id, openstack_networking_secgroup_v2.host.id]

  fixed_ip {
    subnet_id  = openstack_networking_subnet_v2.private.id
    ip_address = local.control_planes[count.index].private_ip
  }
}

resource "openstack_networking_port_v2" "control_plane_public" {
  name               = "${var.cluster_name}-k8s-master-public"
  network_id         = local.public_network_id
  security_group_ids = [openstack_networking_secgroup_v2.kube_api.id]

  fixed_ip {
    subnet_id  = local.public_subnet_id
    ip_address = cidrhost(var.public_cidr, 20)
  }
}

resource "openstack_networking_port_v2" "worker" {
  count              = var.num_kube_nodes
  name               = "${var.cluster_name}-${local.workers[count.index].hostname}"
  network_id         = openstack_networking_network_v2.private.id
  security_group_ids = [openstack_networking_secgroup_v2.cluster.id, openstack_networking_secgroup_v2.host.id]

  fixed_ip {
    subnet_id  = openstack_networking_subnet_v2.private.id
    ip_address = local.workers[count.index].private_ip
  }
}

# --- floating IPs ---------------------------------------------------------------------

resource "openstack_networking_floatingip_v2" "bastion" {
  pool    = var.external_network_name
  port_id = openstack_networking_port_v2.bastion_public.id

  depends_on = [openstack_networking_router_interface_v2.public]
}

# The API floating IP: on the load balancer's VIP when there is one (loadbalancer.tf), else
# on the first control plane's public port.
resource "openstack_networking_floatingip_v2" "kube_api" {
  count   = var.kube_api_floating_ip ? 1 : 0
  pool    = var.external_network_name
  port_id = local.kube_api_lb ? openstack_lb_loadbalancer_v2.kube_api[0].vip_port_id : openstack_networking_port_v2.control_plane_public.id

  depends_on = [openstack_networking_router_interface_v2.public]
}

# --- the salt master and its persistent volume ----------------------------------------

resource "openstack_blockstorage_volume_v3" "salt_master" {
  name              = "${var.cluster_name}-salt-srv"
  description       = "Salt master keys, pillar and file roots (/srv)"
  size              = var.salt_master_volume_size
  volume_type       = var.salt_master_volume_type
  availability_zone = var.availability_zones.infra
}

resource "openstack_compute_instance_v2" "salt_master" {
  name              = local.salt_master_id
  image_id          = local.image_id
  availability_zone = var.availability_zones.infra
  flavor_name       = var.infra_flavor
  config_drive      = true
  user_data         = module.cloudinit.user_data_base64gzip[local.salt_master_id]
  metadata          = { kubesalt_roles = "salt_master" }

  network {
    port = openstack_networking_port_v2.salt_master.id
  }

  block_device {
    uuid                  = local.image_id
    source_type           = "image"
    destination_type      = "local"
    boot_index            = 0
    delete_on_termination = true
  }

  # The volume is attached at boot (not by a later volume_attach), so cloud-init finds it
  # as the second disk and mounts it on /srv before the keys are written there.
  block_device {
    uuid                  = openstack_blockstorage_volume_v3.salt_master.id
    source_type           = "volume"
    destination_type      = "volume"
    boot_index            = -1
    delete_on_termination = false
  }

  lifecycle {
    # user_data forces a new instance; the master holds the cluster's keys and state, so a
    # template change must not replace it behind the operator's back. The image: see above.
    ignore_changes = [user_data, image_id, block_device[0].uuid]
  }
}

# --- bastion, control planes, workers -------------------------------------------------

resource "openstack_compute_servergroup_v2" "control_planes" {
  count    = var.control_plane_server_group_policy == null ? 0 : 1
  name     = "${var.cluster_name}-control-planes"
  policies = [var.control_plane_server_group_policy]
}

resource "openstack_compute_instance_v2" "bastion" {
  name              = local.bastion_id
  image_id          = local.image_id
  availability_zone = var.availability_zones.infra
  flavor_name       = var.infra_flavor
  user_data         = module.cloudinit.user_data_base64gzip[local.bastion_id]
  metadata          = { kubesalt_roles = "bastion" }
  # User data from a config drive: no dependency on the metadata service (issue 11 defect 8).
  config_drive = true

  network {
    port = openstack_networking_port_v2.bastion_public.id
  }
  network {
    port = openstack_networking_port_v2.bastion_private.id
  }
  lifecycle {
    # A new image under base_image's name (or a new base_image_id) is for new instances;
    # replacing a node's image is `terraform apply -replace` (docs/terraform.md).
    ignore_changes = [image_id]
  }
}

resource "openstack_compute_instance_v2" "control_plane" {
  count             = var.num_control_planes
  name              = "${local.control_planes[count.index].hostname}.${local.domain}"
  image_id          = var.node_boot_volume == null ? local.image_id : null
  availability_zone = length(var.availability_zones.control_planes) > 0 ? var.availability_zones.control_planes[count.index % length(var.availability_zones.control_planes)] : null
  flavor_name       = coalesce(var.control_plane_flavor, var.kube_node_flavor)
  user_data         = module.cloudinit.user_data_base64gzip["${local.control_planes[count.index].hostname}.${local.domain}"]
  metadata          = { kubesalt_roles = "microk8s_control_plane" }
  # Hosts on the router-less private network reach no metadata service: config drive.
  config_drive = true

  network {
    port = openstack_networking_port_v2.control_plane[count.index].id
  }
  dynamic "network" {
    for_each = count.index == 0 ? [openstack_networking_port_v2.control_plane_public.id] : []
    content {
      port = network.value
    }
  }
  # dqlite voters on different hypervisors (control_plane_server_group_policy).
  dynamic "scheduler_hints" {
    for_each = openstack_compute_servergroup_v2.control_planes
    content {
      group = scheduler_hints.value.id
    }
  }
  # Boot from a Cinder volume made from the image (node_boot_volume), else the local disk.
  dynamic "block_device" {
    for_each = var.node_boot_volume == null ? [] : [var.node_boot_volume]
    content {
      uuid                  = local.image_id
      source_type           = "image"
      destination_type      = "volume"
      volume_size           = block_device.value.size
      volume_type           = block_device.value.type
      boot_index            = 0
      delete_on_termination = true
    }
  }
  lifecycle {
    # A new image under base_image's name (or a new base_image_id) is for new instances;
    # replacing a node's image is `terraform apply -replace` (docs/terraform.md).
    ignore_changes = [image_id, block_device]
  }
}

resource "openstack_compute_instance_v2" "worker" {
  count             = var.num_kube_nodes
  name              = "${local.workers[count.index].hostname}.${local.domain}"
  image_id          = var.node_boot_volume == null ? local.image_id : null
  availability_zone = length(var.availability_zones.workers) > 0 ? var.availability_zones.workers[count.index % length(var.availability_zones.workers)] : null
  flavor_name       = var.kube_node_flavor
  user_data         = module.cloudinit.user_data_base64gzip["${local.workers[count.index].hostname}.${local.domain}"]
  metadata          = { kubesalt_roles = "microk8s_worker" }
  # Hosts on the router-less private network reach no metadata service: config drive.
  config_drive = true

  network {
    port = openstack_networking_port_v2.worker[count.index].id
  }
  # Deleted before its removal from the master runs (membership.tf).
  depends_on = [terraform_data.worker_membership]
  # Boot from a Cinder volume made from the image (node_boot_volume), else the local disk.
  dynamic "block_device" {
    for_each = var.node_boot_volume == null ? [] : [var.node_boot_volume]
    content {
      uuid                  = local.image_id
      source_type           = "image"
      destination_type      = "volume"
      volume_size           = block_device.value.size
      volume_type           = block_device.value.type
      boot_index            = 0
      delete_on_termination = true
    }
  }
  lifecycle {
    # A new image under base_image's name (or a new base_image_id) is for new instances;
    # replacing a node's image is `terraform apply -replace` (docs/terraform.md).
    ignore_changes = [image_id, block_device]
  }
}
