# Host plan (the same as the lab's): salt .5, bastion .1 (public .10), control planes from
# .10 (the first also public .20), workers from .100 of the private network. The address
# pools handed out by DHCP start at .200.0 so they never collide with these.

locals {
  domain = var.deploy_domain_name

  control_planes = [for i in range(var.num_control_planes) : {
    hostname   = i == 0 ? "k8s-master" : "k8s-master-${i}"
    private_ip = cidrhost(var.private_cidr, 10 + i)
  }]
  workers = [for i in range(var.num_kube_nodes) : {
    hostname   = "k8s-worker-${i}"
    private_ip = cidrhost(var.private_cidr, 100 + i)
  }]

  # The private network's gateway: SSH and API rules name this address (security.tf).
  bastion_private_ip = cidrhost(var.private_cidr, 1)

  salt_master_id = "salt.${local.domain}"
  bastion_id     = "bastion.${local.domain}"
  minion_ids = concat(
    [local.salt_master_id, local.bastion_id],
    [for n in concat(local.control_planes, local.workers) : "${n.hostname}.${local.domain}"],
  )
}

module "cloudinit" {
  source = "./modules/cloudinit"

  domain = var.deploy_domain_name
  networks = {
    public_cidr  = var.public_cidr
    private_cidr = var.private_cidr
    pod_cidr     = var.pod_cidr
    service_cidr = var.service_cidr
  }

  # Addresses as OpenStack assigned them on the ports.
  salt_master = {
    hostname   = "salt"
    private_ip = openstack_networking_port_v2.salt_master.all_fixed_ips[0]
  }
  bastion = {
    hostname   = "bastion"
    private_ip = openstack_networking_port_v2.bastion_private.all_fixed_ips[0]
    public_ip  = openstack_networking_port_v2.bastion_public.all_fixed_ips[0]
  }
  control_planes = [for i, n in local.control_planes : {
    hostname   = n.hostname
    private_ip = openstack_networking_port_v2.control_plane[i].all_fixed_ips[0]
    public_ip  = i == 0 ? openstack_networking_port_v2.control_plane_public.all_fixed_ips[0] : null
  }]
  workers = [for i, n in local.workers : {
    hostname   = n.hostname
    private_ip = openstack_networking_port_v2.worker[i].all_fixed_ips[0]
  }]
  floating_ip = var.kube_api_floating_ip ? openstack_networking_floatingip_v2.kube_api[0].address : null
  # More than one control plane: the API's load balancer (loadbalancer.tf).
  api_load_balancer_vip = local.kube_api_lb ? openstack_lb_loadbalancer_v2.kube_api[0].vip_address : null

  microk8s_channel       = var.microk8s_channel
  salt_version           = var.salt_version
  timezone               = var.timezone
  dns_nameservers        = var.dns_nameservers
  set_root_password      = var.set_root_password
  root_password          = var.root_password
  deploy_user            = var.deploy_user
  deploy_ssh_public_keys = var.deploy_ssh_public_keys
  users                  = var.users

  minion_keys = {
    for id in local.minion_ids : id => {
      public_key_pem  = tls_private_key.minion[id].public_key_pem
      private_key_pem = tls_private_key.minion[id].private_key_pem
    }
  }
  master_key = {
    public_key_pem  = tls_private_key.salt_master.public_key_pem
    private_key_pem = tls_private_key.salt_master.private_key_pem
  }

  # The volume, attached at boot (block_device in instances.tf), by its stable name: virtio
  # disks carry the first 20 characters of the Cinder volume ID as serial (udev's by-id link);
  # the kernel's vdX order is not guaranteed.
  master_volume_device = "/dev/disk/by-id/virtio-${substr(openstack_blockstorage_volume_v3.salt_master.id, 0, 20)}"
  # Hosts on both networks: the private side gets no default route (netplan).
  private_interface_macs = {
    (local.bastion_id)                                    = openstack_networking_port_v2.bastion_private.mac_address
    "${local.control_planes[0].hostname}.${local.domain}" = openstack_networking_port_v2.control_plane[0].mac_address
  }
  state_tree = {
    repository = var.state_tree_repository
    ref        = var.state_tree_ref
    path       = "/srv/kubesalt"
  }
}
