output "bastion_address" {
  description = "Floating IP of the bastion: the SSH entry point."
  value       = openstack_networking_floatingip_v2.bastion.address
}

output "salt_master_address" {
  description = "Private address of the salt master (reach it through the bastion)."
  value       = openstack_networking_port_v2.salt_master.all_fixed_ips[0]
}

output "kube_api_address" {
  description = "Where the Kubernetes API (16443) is reached: the API floating IP (on the load balancer with more than one control plane, else on the first control plane), else the load balancer's VIP, else null."
  value = (
    var.kube_api_floating_ip ? openstack_networking_floatingip_v2.kube_api[0].address
    : local.kube_api_lb ? openstack_lb_loadbalancer_v2.kube_api[0].vip_address : null
  )
}

output "kube_api_load_balancer" {
  description = "The API's Octavia load balancer (more than one control plane), or null: id, VIP address and port."
  value = local.kube_api_lb ? {
    id          = openstack_lb_loadbalancer_v2.kube_api[0].id
    vip_address = openstack_lb_loadbalancer_v2.kube_api[0].vip_address
    vip_port_id = openstack_lb_loadbalancer_v2.kube_api[0].vip_port_id
  } : null
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
