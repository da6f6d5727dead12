output "bastion_address" {
  description = "Floating IP of the bastion: the SSH entry point."
  value       = openstack_networking_floatingip_v2.bastion.address
}

output "salt_master_address" {
  description = "Private address of the salt master (reach it through the bastion)."
  value       = openstack_networking_port_v2.salt_master.all_fixed_ips[0]
}

output "kube_api_address" {
  description = "Floating IP of the first control plane (Kubernetes API on 16443), or null."
  value       = var.kube_api_floating_ip ? openstack_networking_floatingip_v2.kube_api[0].address : null
}

output "inventory" {
  description = "The inventory the salt master received as pillar/_from_terraform.sls."
  value       = module.cloudinit.inventory
}

output "ssh_config" {
  description = "Append to ~/.ssh/config: `ssh salt`, `ssh k8s-worker-0` ... jump through the bastion."
  value = join("\n", concat(
    [
      "Host ${var.cluster_name}-bastion bastion",
      "  HostName ${openstack_networking_floatingip_v2.bastion.address}",
      "  User ${var.deploy_user}",
      "",
    ],
    flatten([for id, host in module.cloudinit.hosts : [
      "Host ${host.hostname} ${id}",
      "  HostName ${host.private_ip}",
      "  User ${var.deploy_user}",
      "  ProxyJump ${var.cluster_name}-bastion",
      "",
    ] if !contains(host.roles, "bastion")]),
  ))
}
