# Scale-down with no manual step (docs/terraform.md, "Removing a node").
#
# Nova deletes an instance hard (no shutdown the node could report) and the running master
# never re-reads its user-data, so nothing tells the master a worker is gone. One
# terraform_data per worker carries what the master needs to forget it; when a worker leaves
# the configuration (num_kube_nodes lowered, or `terraform destroy`), Terraform first deletes
# its instance (the instance depends on this resource, so it is destroyed before it), then this
# resource's destroy-time provisioner runs, on the operator's machine, the same command the
# operator would type: the operator's own `ssh` (their agent or IdentityFile, their
# known_hosts: host keys are verified, BatchMode never prompts) jumps through the bastion's
# floating IP to the master as deploy_user and runs the removal runner with sudo. No new port,
# no credential in the state (only addresses, the user name and the minion id). A failure
# fails the apply with ssh's or the runner's message; the resource stays in the state and the
# next apply runs the removal again (the runner is idempotent).
#
# Destroy-time provisioners may only reference self: everything is in `input`.
# KUBESALT_SSH (environment of the Terraform run) replaces the `ssh` command, e.g. to add
# `-F ~/.ssh/kubesalt_config` (default: ssh).
resource "terraform_data" "worker_membership" {
  count = var.num_kube_nodes

  input = {
    minion_id = "${local.workers[count.index].hostname}.${local.domain}"
    user      = var.deploy_user
    bastion   = openstack_networking_floatingip_v2.bastion.address
    master    = openstack_networking_port_v2.salt_master.all_fixed_ips[0]
    remove    = var.remove_nodes_over_ssh
  }

  # Everything the SSH path needs is destroyed after this resource (a whole `destroy`
  # removes the workers first, then runs each removal while the master is still up).
  depends_on = [
    openstack_compute_instance_v2.salt_master,
    openstack_compute_instance_v2.bastion,
    openstack_networking_router_interface_v2.public,
    openstack_networking_secgroup_rule_v2.bastion_ssh,
    openstack_networking_secgroup_rule_v2.bastion_forward,
    openstack_networking_secgroup_rule_v2.host_ssh_from_bastion,
  ]

  provisioner "local-exec" {
    when = destroy
    # The runner removes the node from the inventory pillar and deletes its key, then the
    # bootstrap runner (in the background) has the control planes remove the Kubernetes node.
    command = (self.input.remove
      ? "$${KUBESALT_SSH:-ssh} -o BatchMode=yes -J '${self.input.user}@${self.input.bastion}' '${self.input.user}@${self.input.master}' 'sudo salt-run --out=json minion_admission.remove ${self.input.minion_id} converge=False && sudo salt-run --async cluster_bootstrap.run trigger=removed-${self.input.minion_id}'"
      : "echo 'remove_nodes_over_ssh is false: on the master, run: salt-run minion_admission.remove ${self.input.minion_id}'"
    )
  }
}
