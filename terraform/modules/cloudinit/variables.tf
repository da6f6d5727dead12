variable "domain" {
  type        = string
  description = "DNS domain of every host; a host's FQDN (and Salt minion id) is <hostname>.<domain>."
  default     = "example.internal"

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$", var.domain)) && length(var.domain) <= 200
    error_message = "Variable domain (deploy_domain_name in the root module) must be a lower-case DNS name with at least two labels (e.g. example.internal), got \"${var.domain}\"."
  }
}

variable "networks" {
  type = object({
    public_cidr  = string
    private_cidr = string
    pod_cidr     = optional(string, "10.244.0.0/16")
    service_cidr = optional(string, "10.152.183.0/24")
  })
  description = "Public network (behind the router, the bastion's side), private network (every host), and the Kubernetes pod and service networks (MicroK8s' cluster CIDR and Calico pool, service CIDR): four IPv4 networks, none overlapping another."
  default = {
    public_cidr  = "10.0.0.0/16"
    private_cidr = "10.1.0.0/16"
  }

  validation {
    # Each one a network address with its prefix (10.1.0.0/16, not 10.1.2.3/16).
    condition = alltrue([for c in values(var.networks) :
      can(cidrnetmask(c)) && try(cidrsubnet(c, 0, 0) == c, false)
    ])
    error_message = "Variable networks: public_cidr, private_cidr, pod_cidr and service_cidr must be IPv4 networks written as their network address and prefix, such as 10.1.0.0/16."
  }
  validation {
    # Two networks overlap when, cut to the shorter of their two prefixes, they are the same.
    condition = alltrue([for pair in setproduct(values(var.networks), values(var.networks)) :
      pair[0] == pair[1] || try(
        cidrhost("${split("/", pair[0])[0]}/${min(tonumber(split("/", pair[0])[1]), tonumber(split("/", pair[1])[1]))}", 0)
        != cidrhost("${split("/", pair[1])[0]}/${min(tonumber(split("/", pair[0])[1]), tonumber(split("/", pair[1])[1]))}", 0),
        false
      )
    ]) && length(distinct(values(var.networks))) == 4
    error_message = "Variable networks: public_cidr, private_cidr, pod_cidr and service_cidr must not overlap (MicroK8s' own pod default 10.1.0.0/16 is the usual private network: choose another pod_cidr)."
  }
}

variable "salt_master" {
  type = object({
    hostname   = string
    private_ip = string
  })
  description = "The salt master: short hostname and private address."
  default = {
    hostname   = "salt"
    private_ip = "10.1.0.5"
  }

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", var.salt_master.hostname)) && can(cidrnetmask("${var.salt_master.private_ip}/32"))
    error_message = "Variable salt_master needs a DNS-label hostname and an IPv4 private_ip."
  }
}

variable "bastion" {
  type = object({
    hostname   = string
    private_ip = string
    public_ip  = string
  })
  description = "The bastion (SSH entry and NAT gateway of the private network): hostname, private and public addresses."
  default = {
    hostname   = "bastion"
    private_ip = "10.1.0.1"
    public_ip  = "10.0.0.10"
  }

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", var.bastion.hostname)) && can(cidrnetmask("${var.bastion.private_ip}/32")) && can(cidrnetmask("${var.bastion.public_ip}/32"))
    error_message = "Variable bastion needs a DNS-label hostname and IPv4 private_ip and public_ip."
  }
}

variable "control_planes" {
  type = list(object({
    hostname   = string
    private_ip = string
    public_ip  = optional(string)
  }))
  description = "MicroK8s control-plane nodes, in order: the first one bootstraps the cluster."
  default = [{
    hostname   = "k8s-master"
    private_ip = "10.1.0.10"
    public_ip  = "10.0.0.20"
  }]

  validation {
    condition     = length(var.control_planes) >= 1
    error_message = "Variable control_planes must list at least one node."
  }
  validation {
    condition = alltrue([for n in var.control_planes :
      can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", n.hostname)) && can(cidrnetmask("${n.private_ip}/32")) && (n.public_ip == null || can(cidrnetmask("${coalesce(n.public_ip, "x")}/32")))
    ])
    error_message = "Variable control_planes: every node needs a DNS-label hostname and IPv4 addresses."
  }
}

variable "workers" {
  type = list(object({
    hostname   = string
    private_ip = string
  }))
  description = "MicroK8s worker nodes (private network only)."
  default = [{
    hostname   = "k8s-worker-0"
    private_ip = "10.1.0.100"
  }]

  validation {
    condition     = length(var.workers) >= 1
    error_message = "Variable workers must list at least one node."
  }
  validation {
    condition     = alltrue([for n in var.workers : can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", n.hostname)) && can(cidrnetmask("${n.private_ip}/32"))])
    error_message = "Variable workers: every node needs a DNS-label hostname and an IPv4 private_ip."
  }
  validation {
    # Cross-variable: one hostname, one minion id, one address per host.
    condition = (
      length(distinct(concat([var.salt_master.hostname, var.bastion.hostname], [for n in var.control_planes : n.hostname], [for n in var.workers : n.hostname])))
      == 2 + length(var.control_planes) + length(var.workers)
      && length(distinct(concat([var.salt_master.private_ip, var.bastion.private_ip], [for n in var.control_planes : n.private_ip], [for n in var.workers : n.private_ip])))
      == 2 + length(var.control_planes) + length(var.workers)
    )
    error_message = "Variable workers: hostnames and private addresses must be unique across the salt master, the bastion, the control planes and the workers."
  }
}

variable "extra_nodes" {
  type = list(object({
    hostname   = string
    private_ip = string
    roles      = list(string)
  }))
  description = "Further Salt minions on the private network with their roles in the inventory, e.g. MAAS hosts (maas_db, maas_region, maas_rack). The salt_master, bastion and microk8s_* roles belong to the variables above."
  default     = []

  validation {
    condition = alltrue([for n in var.extra_nodes :
      can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", n.hostname)) && can(cidrnetmask("${n.private_ip}/32")) && length(n.roles) >= 1
      && alltrue([for r in n.roles : can(regex("^[a-z][a-z0-9_]*$", r)) && !contains(["salt_master", "bastion", "microk8s_control_plane", "microk8s_worker"], r)])
    ])
    error_message = "Variable extra_nodes: every node needs a DNS-label hostname, an IPv4 private_ip and at least one role (lower-case words; not salt_master, bastion or microk8s_*)."
  }
  validation {
    condition = (
      length(distinct(concat([var.salt_master.hostname, var.bastion.hostname], [for n in concat(var.control_planes, var.workers, var.extra_nodes) : n.hostname])))
      == 2 + length(var.control_planes) + length(var.workers) + length(var.extra_nodes)
      && length(distinct(concat([var.salt_master.private_ip, var.bastion.private_ip], [for n in concat(var.control_planes, var.workers, var.extra_nodes) : n.private_ip])))
      == 2 + length(var.control_planes) + length(var.workers) + length(var.extra_nodes)
    )
    error_message = "Variable extra_nodes: hostnames and private addresses must be unique across every host."
  }
}

variable "floating_ip" {
  type        = string
  description = "Public address in front of the first control plane, added to the API server certificate (optional)."
  default     = null

  validation {
    condition     = var.floating_ip == null || can(cidrnetmask("${coalesce(var.floating_ip, "x")}/32"))
    error_message = "Variable floating_ip must be an IPv4 address or null."
  }
}

variable "api_load_balancer_vip" {
  type        = string
  description = "VIP of the load balancer in front of every control plane's API (optional): the API address when there is no floating IP, and an extra certificate SAN."
  default     = null

  validation {
    condition     = var.api_load_balancer_vip == null || can(cidrnetmask("${coalesce(var.api_load_balancer_vip, "x")}/32"))
    error_message = "Variable api_load_balancer_vip must be an IPv4 address or null."
  }
}

variable "microk8s_channel" {
  type        = string
  description = "Snap channel of MicroK8s, e.g. 1.32/stable."
  default     = "1.32/stable"

  validation {
    condition     = can(regex("^(latest|[0-9]+\\.[0-9]+)(-[a-z0-9]+)?/(stable|candidate|beta|edge)(/[a-z0-9-]+)?$", var.microk8s_channel))
    error_message = "Variable microk8s_channel must look like 1.32/stable (track/risk)."
  }
}

variable "salt_version" {
  type        = string
  description = "Salt version pinned in apt when Salt is not already on the image: a major (3008) or an exact release (3008.4); 3008.3 or later."
  default     = "3008"

  validation {
    # 3008.3 fixed saltstack/salt#67947: older minions may stay disconnected after a master
    # restart ('AsyncAuth' object has no attribute '_creds').
    condition = can(regex("^[0-9]{4}(\\.[0-9]+)?$", var.salt_version)) && try(
      tonumber(split(".", var.salt_version)[0]) > 3008
      || (tonumber(split(".", var.salt_version)[0]) == 3008 && tonumber(concat(split(".", var.salt_version), ["3"])[1]) >= 3),
      false
    )
    error_message = "Variable salt_version must be Salt 3008.3 or later, as a major (3008) or a release (3008.4): older minions stay disconnected after a master restart (saltstack/salt#67947)."
  }
}

variable "timezone" {
  type        = string
  description = "Time zone of every host (tz database name)."
  default     = "Etc/UTC"

  validation {
    condition     = can(regex("^[A-Za-z_]+(/[A-Za-z0-9_+-]+)*$", var.timezone))
    error_message = "Variable timezone must be a tz database name such as Etc/UTC or Europe/Amsterdam."
  }
}

variable "dns_nameservers" {
  type        = list(string)
  description = "Name servers written to /etc/resolv.conf."
  default     = ["1.1.1.1", "1.0.0.1"]

  validation {
    condition     = length(var.dns_nameservers) >= 1 && length(var.dns_nameservers) <= 3 && alltrue([for ip in var.dns_nameservers : can(cidrnetmask("${ip}/32"))])
    error_message = "Variable dns_nameservers must list one to three IPv4 addresses."
  }
}

variable "manage_resolv_conf" {
  type        = bool
  description = "Write /etc/resolv.conf (search domain and dns_nameservers)."
  default     = true
}

variable "set_root_password" {
  type        = bool
  description = "Set a root password (console access only: SSH password login stays off)."
  default     = false
}

variable "root_password" {
  type        = string
  description = "Root password, clear or (better) a crypt hash such as $6$... from `mkpasswd -m sha-512`. Only with set_root_password = true."
  default     = null
  sensitive   = true

  validation {
    condition     = var.root_password == null || var.set_root_password
    error_message = "Variable root_password is set while set_root_password is false: set set_root_password = true or drop root_password."
  }
  validation {
    condition     = !var.set_root_password || length(var.root_password == null ? "" : var.root_password) >= 8
    error_message = "Variable root_password must hold at least 8 characters when set_root_password is true."
  }
}

variable "deploy_user" {
  type        = string
  description = "Administrative user created on every host (sudo without password, SSH keys only)."
  default     = "kubesalt"

  validation {
    condition     = can(regex("^[a-z_][a-z0-9_-]{0,31}$", var.deploy_user)) && var.deploy_user != "root"
    error_message = "Variable deploy_user must be a POSIX user name (not root)."
  }
}

variable "deploy_ssh_public_keys" {
  type        = list(string)
  description = "SSH public keys of deploy_user."
  default     = []

  validation {
    condition     = alltrue([for k in var.deploy_ssh_public_keys : can(regex("^(ssh-(ed25519|rsa)|ecdsa-sha2-nistp(256|384|521)|sk-[a-z0-9@.-]+) [A-Za-z0-9+/]+={0,3}( [^\\r\\n]*)?$", k))])
    error_message = "Variable deploy_ssh_public_keys must hold OpenSSH public keys, one per entry (ssh-ed25519 AAAA... comment; no line breaks)."
  }
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

  validation {
    condition     = alltrue([for u in var.users : length(u.ssh_keys) > 0])
    error_message = "Variable users: every user needs at least one SSH public key in ssh_keys."
  }
  validation {
    condition     = alltrue([for u in var.users : can(regex("^[a-z_][a-z0-9_-]{0,31}$", u.name)) && u.name != "root"])
    error_message = "Variable users: every name must be a POSIX user name (not root)."
  }
  validation {
    condition     = alltrue(flatten([for u in var.users : [for k in u.ssh_keys : can(regex("^(ssh-(ed25519|rsa)|ecdsa-sha2-nistp(256|384|521)|sk-[a-z0-9@.-]+) [A-Za-z0-9+/]+={0,3}( [^\\r\\n]*)?$", k))]]))
    error_message = "Variable users: every ssh_keys entry must be an OpenSSH public key."
  }
  validation {
    condition     = length(distinct([for u in var.users : u.name])) == length(var.users) && !contains([for u in var.users : u.name], var.deploy_user)
    error_message = "Variable users: names must be unique and differ from deploy_user."
  }
}

variable "minion_keys" {
  type = map(object({
    public_key_pem  = string
    private_key_pem = string
  }))
  description = "Salt key pair of every minion, keyed by minion id (FQDN); the public keys are accepted on the master in advance."
  sensitive   = true

  validation {
    condition = alltrue([for id, k in var.minion_keys :
      startswith(k.public_key_pem, "-----BEGIN PUBLIC KEY-----") && startswith(k.private_key_pem, "-----BEGIN RSA PRIVATE KEY-----")
    ])
    error_message = "Variable minion_keys: public keys must be PEM \"PUBLIC KEY\" (SPKI) and private keys PEM \"RSA PRIVATE KEY\" (PKCS#1), the encodings Salt writes."
  }
  validation {
    condition = length(setsubtract(
      concat(["${var.salt_master.hostname}.${var.domain}", "${var.bastion.hostname}.${var.domain}"], [for n in concat(var.control_planes, var.workers, var.extra_nodes) : "${n.hostname}.${var.domain}"]),
      keys(var.minion_keys)
    )) == 0
    error_message = "Variable minion_keys needs a key pair for every minion id (salt master, bastion, control planes, workers, extra nodes)."
  }
}

variable "master_key" {
  type = object({
    public_key_pem  = string
    private_key_pem = string
  })
  description = "The salt master's key pair; minions get the public key in advance (pinned)."
  sensitive   = true

  validation {
    condition     = startswith(var.master_key.public_key_pem, "-----BEGIN PUBLIC KEY-----") && startswith(var.master_key.private_key_pem, "-----BEGIN RSA PRIVATE KEY-----")
    error_message = "Variable master_key: public key must be PEM \"PUBLIC KEY\" (SPKI), private key PEM \"RSA PRIVATE KEY\" (PKCS#1)."
  }
}

variable "master_volume_device" {
  type        = string
  description = "Block device of the salt master's persistent volume (attached at boot), partitioned, formatted and mounted on /srv for its keys, pillar and file roots. Null: no volume (the lab)."
  default     = "/dev/vdb"

  validation {
    condition     = var.master_volume_device == null || can(regex("^/dev/[A-Za-z0-9/_.-]+$", coalesce(var.master_volume_device, "x")))
    error_message = "Variable master_volume_device must be a /dev path or null."
  }
}

variable "state_tree" {
  type = object({
    repository = optional(string)
    ref        = optional(string, "main")
    path       = optional(string, "/srv/kubesalt")
  })
  description = "Where the salt master finds the kubesalt tree (salt/ and pillar/): path, cloned from repository at ref when the path is empty (repository null: the path must be provided by the image or the lab)."
  default     = {}

  validation {
    # The values end up in a shell environment file: no quotes, spaces or $.
    condition = (
      can(regex("^/[A-Za-z0-9/_.-]*$", var.state_tree.path))
      && can(regex("^[A-Za-z0-9/_.-]+$", var.state_tree.ref))
      && (var.state_tree.repository == null || can(regex("^(https://|ssh://|git@)[A-Za-z0-9@:/_.~+-]+$", coalesce(var.state_tree.repository, "x"))))
    )
    error_message = "Variable state_tree: path must be absolute, ref a branch or tag name, repository an https://, ssh:// or git@ URL (no spaces, quotes or $)."
  }
}

variable "private_interface_macs" {
  type        = map(string)
  description = "MAC address of the private interface of hosts that also sit on the public network (the bastion, the first control plane), by minion id: netplan gives it the private address with no default route, so replies leave by the public side. Hosts not listed keep DHCP."
  default     = {}

  validation {
    condition     = alltrue([for id, mac in var.private_interface_macs : can(regex("^([0-9a-f]{2}:){5}[0-9a-f]{2}$", mac))])
    error_message = "Variable private_interface_macs must map minion ids to lower-case MAC addresses (fa:16:3e:...)."
  }
  validation {
    condition = length(setsubtract(keys(var.private_interface_macs), concat(
      ["${var.salt_master.hostname}.${var.domain}", "${var.bastion.hostname}.${var.domain}"],
      [for n in concat(var.control_planes, var.workers) : "${n.hostname}.${var.domain}"],
    ))) == 0
    error_message = "Variable private_interface_macs names a host that is not in the inventory."
  }
}

variable "extra_minion_config" {
  type        = any
  description = "Extra Salt minion options merged into every minion's minion.d file (site tuning, e.g. the lab's); id, master, master_finger and hash_type stay the module's."
  default     = {}

  validation {
    condition     = can(keys(var.extra_minion_config)) && length(setintersection(keys(var.extra_minion_config), ["id", "master", "master_finger", "hash_type"])) == 0
    error_message = "Variable extra_minion_config must be a mapping of Salt minion options other than id, master, master_finger and hash_type."
  }
}

variable "extra_master_config" {
  type        = any
  description = "Extra Salt master options merged into the master's master.d file (site tuning); pki_dir and every option that admits minion keys without the module's checks (auto_accept, open_mode, autosign_*) stay the module's."
  default     = {}

  validation {
    condition = can(keys(var.extra_master_config)) && length(setintersection(keys(var.extra_master_config), [
      "pki_dir", "auto_accept", "open_mode", "autosign_file", "autosign_grains_dir", "autosign_timeout", "autoreject_file",
    ])) == 0
    error_message = "Variable extra_master_config must be a mapping of Salt master options other than pki_dir, auto_accept, open_mode, autosign_file, autosign_grains_dir, autosign_timeout and autoreject_file (minion keys are admitted by the module only)."
  }
}

variable "master_wait_seconds" {
  type        = number
  description = "How long a minion's bootstrap waits for the master's port 4506 before starting anyway."
  default     = 900

  validation {
    # A whole number: the bootstrap script counts it down with shell arithmetic.
    condition     = var.master_wait_seconds >= 0 && var.master_wait_seconds <= 3600 && floor(var.master_wait_seconds) == var.master_wait_seconds
    error_message = "Variable master_wait_seconds must be a whole number of seconds from 0 to 3600."
  }
}
