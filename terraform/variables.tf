# The Kube-on-OS variables plus what an operator needs. Every bad value fails at plan time
# with a message naming the variable. A rule lives once, in the module that uses the value:
# what is passed through to modules/cloudinit (domain, users and keys, root password, name
# servers, time zone, Salt and MicroK8s versions, the state tree, the four networks'
# overlaps) is validated there; this file validates what only the root module uses.

variable "openstack_cloud" {
  type        = string
  description = "Name of the cloud in clouds.yaml (null: use the OS_* environment variables)."
  default     = null
}

variable "cluster_name" {
  type        = string
  description = "Prefix of every OpenStack resource name."
  default     = "kubesalt"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,30}[a-z0-9]$", var.cluster_name))
    error_message = "Variable cluster_name must be a DNS label of 2 to 32 characters (a-z, 0-9, -)."
  }
}

variable "num_kube_nodes" {
  type        = number
  description = "Number of MicroK8s worker nodes."
  default     = 2

  validation {
    # Upper bound: the salt master's user-data carries every minion's public key and must fit
    # Nova's 64 KiB once compressed (about 1 KiB per minion with RSA 4096 keys).
    condition     = var.num_kube_nodes >= 1 && var.num_kube_nodes <= 45 && floor(var.num_kube_nodes) == var.num_kube_nodes
    error_message = "Variable num_kube_nodes must be a whole number from 1 (a cluster needs a worker node) to 45 (the salt master's user-data must fit Nova's 64 KiB)."
  }
}

variable "remove_nodes_over_ssh" {
  type        = bool
  description = "When a worker leaves the configuration (num_kube_nodes lowered, terraform destroy), run the removal runner on the master over the operator's ssh, through the bastion (membership.tf). False: Terraform only prints the command to run on the master."
  default     = true
  nullable    = false
}

variable "num_control_planes" {
  type        = number
  description = "Number of MicroK8s control-plane nodes: 1, or 3 or more for high availability (dqlite needs 3 voters)."
  default     = 1

  validation {
    condition     = contains([1, 3, 4, 5, 6, 7], var.num_control_planes)
    error_message = "Variable num_control_planes must be 1 or from 3 to 7 (2 gives no high availability)."
  }
}

variable "kube_node_flavor" {
  type        = string
  description = "Nova flavor of the MicroK8s nodes (workers, and control planes unless control_plane_flavor is set)."
  default     = "m1.large"

  validation {
    condition     = length(trimspace(var.kube_node_flavor)) > 0
    error_message = "Variable kube_node_flavor must name a flavor."
  }
}

variable "control_plane_flavor" {
  type        = string
  description = "Nova flavor of the control planes (null: kube_node_flavor). MicroK8s wants 4 GB of RAM or more."
  default     = null

  validation {
    condition     = var.control_plane_flavor == null || length(trimspace(coalesce(var.control_plane_flavor, " "))) > 0
    error_message = "Variable control_plane_flavor must name a flavor or be null."
  }
}

variable "infra_flavor" {
  type        = string
  description = "Nova flavor of the salt master and the bastion."
  default     = "m1.small"

  validation {
    condition     = length(trimspace(var.infra_flavor)) > 0
    error_message = "Variable infra_flavor must name a flavor."
  }
}

variable "external_network_name" {
  type        = string
  description = "Name of the provider (external) network: the router's gateway and the floating IP pool."
  default     = "public"

  validation {
    condition     = length(trimspace(var.external_network_name)) > 0
    error_message = "Variable external_network_name must name the external network."
  }
}

variable "base_image" {
  type        = string
  description = "Glance image name of every host: a Debian 12 or Ubuntu 22.04+ cloud image with cloud-init."
  default     = "debian-12-genericcloud-amd64"

  validation {
    condition     = length(trimspace(var.base_image)) > 0
    error_message = "Variable base_image must name a Glance image."
  }
}

variable "base_image_id" {
  type        = string
  description = "Glance image ID every host is built from (pinned; null: the newest image named base_image when an instance is created). Instances keep the image they were built from either way; changing it is a deliberate `terraform apply -replace`, node by node (docs/terraform.md)."
  default     = null

  validation {
    condition     = var.base_image_id == null || can(regex("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", coalesce(var.base_image_id, "x")))
    error_message = "Variable base_image_id must be a Glance image UUID or null."
  }
}

variable "deploy_domain_name" {
  type        = string
  description = "DNS domain of the deployment; every host is <name>.<domain> and that FQDN is its Salt minion id."
  default     = "kubesalt.internal"
}

variable "deploy_user" {
  type        = string
  description = "Administrative user on every host (sudo, SSH keys only)."
  default     = "kubesalt"
}

variable "deploy_ssh_public_keys" {
  type        = list(string)
  description = "SSH public keys of deploy_user: the way in, through the bastion (their format is checked by modules/cloudinit)."

  validation {
    # The only way in: the root module builds no other (modules/cloudinit checks the format).
    condition     = length(var.deploy_ssh_public_keys) >= 1
    error_message = "Variable deploy_ssh_public_keys must hold at least one OpenSSH public key (ssh-ed25519 AAAA...): it is the only way in."
  }
}

variable "set_root_password" {
  type        = bool
  description = "Give root a password (console access only; SSH password login stays off)."
  default     = false
}

variable "root_password" {
  type        = string
  description = "Root password: preferably a crypt hash ($6$... from `mkpasswd -m sha-512`); clear text lands in the instance metadata. Only with set_root_password = true."
  default     = null
  sensitive   = true
}

variable "users" {
  type = list(object({
    name     = string
    ssh_keys = list(string)
    sudo     = optional(bool, false)
    shell    = optional(string, "/bin/bash")
  }))
  description = "Extra login users on every host; each needs at least one SSH public key."
  default     = []
}

variable "operator_cidrs" {
  type        = list(string)
  description = "Networks allowed to SSH to the bastion (and to reach the Kubernetes API floating IP). The only ingress from outside."

  validation {
    # By netmask, not by spelling: 0.0.0.0/00 or 0.0.0.0/1 + 128.0.0.0/1 are the internet too.
    # A prefix of 8 or more is a netmask starting with 255.
    condition     = length(var.operator_cidrs) >= 1 && alltrue([for c in var.operator_cidrs : can(cidrnetmask(c)) && startswith(try(cidrnetmask(c), ""), "255.")])
    error_message = "Variable operator_cidrs must list the operators' networks as IPv4 CIDRs with a prefix of /8 or longer (0.0.0.0/0, /00 or two /1 halves would open the bastion to the internet)."
  }
}

variable "public_cidr" {
  type        = string
  description = "CIDR of the public network (router, bastion, first control plane)."
  default     = "10.0.0.0/16"

  validation {
    # The address plan: bastion .10, control plane .20, the DHCP pool from .200.0 (network.tf).
    # (An existing public network keeps its own pool: any prefix up to /24 then.)
    condition = can(cidrnetmask(var.public_cidr)) && try(
      tonumber(split("/", var.public_cidr)[1]) >= 8 && tonumber(split("/", var.public_cidr)[1]) <= (var.existing_public_network == null ? 16 : 24),
      false
    )
    error_message = "Variable public_cidr must be an IPv4 CIDR from /8 to /16 (the DHCP pool starts at .200.0), or up to /24 for an existing_public_network."
  }
}

variable "private_cidr" {
  type        = string
  description = "CIDR of the private network (every host; Salt and MicroK8s traffic)."
  default     = "10.1.0.0/16"

  validation {
    condition     = can(cidrnetmask(var.private_cidr)) && try(tonumber(split("/", var.private_cidr)[1]) >= 8 && tonumber(split("/", var.private_cidr)[1]) <= 16, false)
    error_message = "Variable private_cidr must be an IPv4 CIDR from /8 to /16 (workers start at .0.100, the DHCP pool at .200.0)."
  }
}

variable "pod_cidr" {
  type        = string
  description = "Kubernetes pod network (MicroK8s' cluster CIDR and Calico IP pool). MicroK8s' own default, 10.1.0.0/16, is the default private_cidr: this one must overlap none of public_cidr, private_cidr and service_cidr (checked by modules/cloudinit)."
  default     = "10.244.0.0/16"
}

variable "service_cidr" {
  type        = string
  description = "Kubernetes service network (MicroK8s' service CIDR; the API's ClusterIP is its first address). Must overlap none of the other three networks."
  default     = "10.152.183.0/24"
}

variable "dns_nameservers" {
  type        = list(string)
  description = "Name servers of both subnets and of every host's resolv.conf."
  default     = ["1.1.1.1", "1.0.0.1"]
}

variable "timezone" {
  type        = string
  description = "Time zone of every host."
  default     = "Etc/UTC"
}

variable "salt_version" {
  type        = string
  description = "Salt release pinned on the hosts (a major such as 3008, or 3008.4); 3008.3 or later."
  default     = "3008"
}

variable "microk8s_channel" {
  type        = string
  description = "MicroK8s snap channel."
  default     = "1.32/stable"
}

variable "salt_master_volume_size" {
  type        = number
  description = "Size in GB of the salt master's persistent volume (keys, pillar, file roots on /srv)."
  default     = 10

  validation {
    condition     = var.salt_master_volume_size >= 1 && var.salt_master_volume_size <= 1000
    error_message = "Variable salt_master_volume_size must be from 1 to 1000 (GB)."
  }
}

variable "salt_master_volume_type" {
  type        = string
  description = "Cinder volume type of the salt master's volume (null: the cloud's default)."
  default     = null
}

variable "kube_api_floating_ip" {
  type        = bool
  description = "A floating IP for the Kubernetes API (16443, reachable from operator_cidrs only; added to the certificates): on the load balancer with more than one control plane, else on the first control plane."
  default     = true
}

variable "state_tree_repository" {
  type        = string
  description = "Git URL of the kubesalt tree (salt/ and pillar/) the salt master clones into /srv/kubesalt."
}

variable "state_tree_ref" {
  type        = string
  description = "Branch or tag of state_tree_repository."
  default     = "main"
}

variable "control_plane_server_group_policy" {
  type        = string
  description = "Nova server group policy of the control planes: anti-affinity (every control plane on its own hypervisor: three dqlite voters on one host is not high availability; the cloud needs as many hypervisors), soft-anti-affinity (spread when the scheduler can), or null (no server group)."
  default     = "anti-affinity"

  validation {
    condition     = var.control_plane_server_group_policy == null || contains(["anti-affinity", "soft-anti-affinity"], coalesce(var.control_plane_server_group_policy, "x"))
    error_message = "Variable control_plane_server_group_policy must be anti-affinity, soft-anti-affinity or null."
  }
}

variable "availability_zones" {
  type = object({
    infra          = optional(string)
    control_planes = optional(list(string), [])
    workers        = optional(list(string), [])
  })
  description = "Nova availability zones per role (optional): infra for the salt master (and its volume) and the bastion; control_planes and workers are lists the nodes are spread over in turn. Unset: the cloud's default zone."
  default     = {}

  validation {
    condition = alltrue([for zone in concat(compact([var.availability_zones.infra]), var.availability_zones.control_planes, var.availability_zones.workers) :
      can(regex("^[A-Za-z0-9][A-Za-z0-9_.:-]{0,254}$", zone))
    ])
    error_message = "Variable availability_zones: every zone must be a non-empty name (letters, digits, _ . : -)."
  }
}

variable "node_boot_volume" {
  type = object({
    size = number
    type = optional(string)
  })
  description = "Boot the control planes and workers from a Cinder volume made from the image (size in GB, optional volume type; deleted with the instance) instead of the flavor's local disk. Null: local disk."
  default     = null

  validation {
    condition     = var.node_boot_volume == null || try(var.node_boot_volume.size >= 10 && var.node_boot_volume.size <= 16384 && floor(var.node_boot_volume.size) == var.node_boot_volume.size, false)
    error_message = "Variable node_boot_volume: size must be a whole number of GB from 10 to 16384 (MicroK8s and its images need room)."
  }
}

variable "existing_public_network" {
  type = object({
    network_id = string
    subnet_id  = string
  })
  description = "Reuse an existing network and subnet as the public network (already routed to the external network; its CIDR must be public_cidr, and .10 and .20 free for the bastion and the first control plane). Null: the root module creates them and a router."
  default     = null

  validation {
    condition     = var.existing_public_network == null || try(alltrue([for id in values(var.existing_public_network) : can(regex("^[0-9a-fA-F-]{36}$", id))]), false)
    error_message = "Variable existing_public_network: network_id and subnet_id must be Neutron UUIDs."
  }
}

variable "existing_router_id" {
  type        = string
  description = "Reuse an existing router (already on the external network) for the new public subnet instead of creating one. Not with existing_public_network (its subnet is routed already)."
  default     = null

  validation {
    condition     = var.existing_router_id == null || (can(regex("^[0-9a-fA-F-]{36}$", coalesce(var.existing_router_id, "x"))) && var.existing_public_network == null)
    error_message = "Variable existing_router_id must be a Neutron router UUID, and is not used with existing_public_network (whose subnet is routed already)."
  }
}
