# Renders the cloud-config of every host. The whole document is an HCL object passed through
# yamlencode(), so PEM keys and scripts become YAML block scalars and nothing depends on
# hand-written indentation.

locals {
  domain      = var.domain
  master_fqdn = "${var.salt_master.hostname}.${local.domain}"

  # Paths on the salt master. With a volume, /srv is the volume: keys, pillar and file roots
  # survive a rebuild of the master.
  state_tree_path = trimsuffix(var.state_tree.path, "/")
  pillar_dir      = "/srv/pillar"
  master_pki_dir  = "/srv/pki/master"
  # The master's cache (minion data, mine, jobs, the bootstrap runner's record) also lives
  # on the volume; the join secret lives in pki_dir (<pki_dir>/kubesalt/join.secret).
  master_cache_dir = "/srv/cache/salt/master"
  # The master's SSH host keys, kept there by the bootstrap and put back on a rebuilt master
  # (the operator's known_hosts stays valid).
  master_host_keys_dir = "/srv/ssh-host-keys"
  admission_port       = 4507
  minion_pki_dir       = "/etc/salt/pki/minion"

  nodes = concat(
    [{ hostname = var.salt_master.hostname, roles = ["salt_master"], private_ip = var.salt_master.private_ip, public_ip = null }],
    [{ hostname = var.bastion.hostname, roles = ["bastion"], private_ip = var.bastion.private_ip, public_ip = var.bastion.public_ip }],
    [for n in var.control_planes : { hostname = n.hostname, roles = ["microk8s_control_plane"], private_ip = n.private_ip, public_ip = n.public_ip }],
    [for n in var.workers : { hostname = n.hostname, roles = ["microk8s_worker"], private_ip = n.private_ip, public_ip = null }],
    [for n in var.extra_nodes : { hostname = n.hostname, roles = n.roles, private_ip = n.private_ip, public_ip = null }],
  )
  nodes_by_id = { for n in local.nodes : "${n.hostname}.${local.domain}" => n }

  # The inventory pillar (pillar/_from_terraform.sls); its shape is a contract with the state
  # tree and the lab. Optional keys are left out rather than set to null.
  inventory = {
    kubesalt = merge({
      domain = local.domain
      # pod_cidr and service_cidr: MicroK8s' cluster CIDR / Calico pool and service CIDR
      # (salt/states/microk8s reads kubesalt:networks:pod_cidr and :service_cidr).
      networks = {
        public_cidr  = var.networks.public_cidr
        private_cidr = var.networks.private_cidr
        pod_cidr     = var.networks.pod_cidr
        service_cidr = var.networks.service_cidr
      }
      salt_master = local.master_fqdn
      microk8s = merge(
        {
          control_planes = [for n in var.control_planes : "${n.hostname}.${local.domain}"]
          workers        = [for n in var.workers : "${n.hostname}.${local.domain}"]
          channel        = var.microk8s_channel
        },
        { for k, v in { floating_ip = var.floating_ip } : k => v if v != null },
        # The API's load balancer: the address clients use (its floating IP, else its VIP)
        # and its VIP as an extra certificate SAN of every control plane.
        { for k, v in { api_address = var.api_load_balancer_vip == null ? null : coalesce(var.floating_ip, var.api_load_balancer_vip) } : k => v if v != null },
        { for k, v in { extra_sans = var.api_load_balancer_vip == null ? null : [var.api_load_balancer_vip] } : k => v if v != null },
      )
      nodes = {
        for id, n in local.nodes_by_id : id => {
          for k, v in { roles = n.roles, private_ip = n.private_ip, public_ip = n.public_ip } : k => v if v != null
        }
      }
      },
      # The resolvers cloud-init writes (the subnet's DNS servers), so that core.resolv keeps
      # them: without this the state defaults (or an environment layer written for another
      # network) would replace them at the first highstate.
      var.manage_resolv_conf ? { resolv = { nameservers = [for ip in var.dns_nameservers : ip] } } : {},
    )
  }
  inventory_yaml = "# Written by Terraform (terraform/modules/cloudinit); do not edit by hand.\n${yamlencode(local.inventory)}"

  # Only the host itself and the salt master: nothing in a host's user-data may depend on
  # the other hosts, or adding a node would change (ForceNew: replace) every instance. Salt
  # writes the other hosts' lines (core.hosts, from the inventory and the mine).
  etc_hosts = {
    for id, n in local.nodes_by_id : id => join("", concat(
      ["127.0.0.1 localhost\n", "::1 localhost ip6-localhost ip6-loopback\n"],
      [for hid, h in local.nodes_by_id : "${h.private_ip} ${hid} ${h.hostname}\n" if hid == id || hid == local.master_fqdn],
    ))
  }
  resolv_conf = join("", concat(
    ["# Written by cloud-init (kubesalt)\n", "search ${local.domain}\n"],
    [for ip in var.dns_nameservers : "nameserver ${ip}\n"],
  ))

  # Salt's pem_finger (salt/utils/crypt.py): sha256 of the PEM body lines, each with its
  # newline, armor lines left out -- plain text, so Terraform can compute it. Minions refuse
  # a master whose key does not match (master_finger).
  master_finger = join(":", regexall("..", sha256(join("", [
    for line in split("\n", replace(var.master_key.public_key_pem, "\r\n", "\n")) : "${trimspace(line)}\n"
    if trimspace(line) != "" && !startswith(trimspace(line), "-----")
  ]))))

  # Salt packages: pinned in apt; installed only when the image has no Salt.
  salt_pin = length(split(".", var.salt_version)) == 1 ? "${var.salt_version}.*" : "${var.salt_version}*"

  deploy_user = merge(
    {
      name        = var.deploy_user
      gecos       = "kubesalt deploy user"
      shell       = "/bin/bash"
      sudo        = "ALL=(ALL) NOPASSWD:ALL"
      lock_passwd = true
    },
    { for k, v in { ssh_authorized_keys = var.deploy_ssh_public_keys } : k => v if length(v) > 0 },
  )
  extra_users = [for u in var.users : merge(
    { name = u.name, shell = u.shell, lock_passwd = true, ssh_authorized_keys = u.ssh_keys },
    u.sudo ? { sudo = "ALL=(ALL) NOPASSWD:ALL" } : { sudo = null },
  )]

  # A crypt hash ($6$..., $y$...) is passed as such; anything else as clear text.
  chpasswd = var.set_root_password ? {
    expire = false
    users = [{
      name     = "root"
      password = var.root_password
      type     = startswith(coalesce(var.root_password, "x"), "$") ? "hash" : "text"
    }]
  } : null

  # What the master needs before its first highstate, and what only Terraform knows. The
  # salt_master state's master.d/kubesalt.conf is the author of every other setting (log
  # level, hash type, pillar merging, backups); it restates the roots and file_recv with
  # the same values (tests/terraform/test_cloudinit_render.py holds them equal).
  master_config = {
    interface    = var.salt_master.private_ip
    pki_dir      = local.master_pki_dir
    cachedir     = local.master_cache_dir
    auto_accept  = false
    open_mode    = false
    file_roots   = { base = ["${local.state_tree_path}/salt/states", "${local.state_tree_path}/salt"] }
    pillar_roots = { base = [local.pillar_dir, "${local.state_tree_path}/pillar"] }
    # The first MAAS region hands its shared secret and API key to the master with cp.push
    # (pillar/maas.sls); needed from the first highstate on, before the salt_master state.
    file_recv = true
  }
  # The reactor and the bootstrap runner: once every expected minion has started, sync and
  # run the orchestration (salt/_runners/cluster_bootstrap.py). The schedule is the safety
  # net for a missed start event; a finished run for the same inventory is not repeated.
  reactor_config = {
    runner_dirs  = ["${local.state_tree_path}/salt/_runners"]
    engines_dirs = ["${local.state_tree_path}/salt/_engines"]
    utils_dirs   = ["${local.state_tree_path}/salt/_utils"]
    # The admission step (salt/_engines/minion_admission.py): accepts a pending minion key
    # only with a credential Terraform derived from the master's key for that id and key.
    engines = [
      { minion_admission = { port = local.admission_port } },
    ]
    reactor = [
      { "salt/minion/*/start" = ["salt://reactor/minion_start.sls"] },
    ]
    cluster_bootstrap = {
      inventory     = "${local.pillar_dir}/_from_terraform.sls"
      orchestration = "orch.cluster"
    }
    schedule = {
      kubesalt-bootstrap = {
        function = "cluster_bootstrap.run"
        minutes  = 2
      }
    }
  }

  # Admission of minions the running master has not seen (a node added by a later apply;
  # the master's user-data is never re-read). Per node: a credential over (id, the SHA-256
  # of its public key as Salt cleans it, roles, private address), keyed by a secret derived
  # from the master's private key, which the master holds. A double hash, so the
  # credential of one claim gives none for another (no length extension): see
  # salt/_utils/cluster_lib/admission.py, which computes the same on the master.
  admission_secret = sha256("kubesalt-admission-v1\n${var.master_key.private_key_pem}")
  admission_claims = {
    for id, n in local.nodes_by_id : id => {
      id         = id
      pub_sha256 = sha256(trimspace(replace(var.minion_keys[id].public_key_pem, "\r\n", "\n")))
      roles      = n.roles
      private_ip = n.private_ip
    }
  }
  admission_requests = {
    for id, c in local.admission_claims : id => merge(c, {
      credential = sha256("${local.admission_secret}${sha256("${local.admission_secret}|${join("|", [c.id, c.pub_sha256, join(",", c.roles), c.private_ip])}")}")
    })
  }

  host_config = {
    for id, n in local.nodes_by_id : id => {
      minion = {
        master    = var.salt_master.private_ip
        id        = id
        hash_type = "sha256"
        # A highstate does not sync the state tree's modules first (Salt's default: 20
        # module kinds listed and hashed on the master per run, most of a converged
        # highstate's wall time). They reach minions by `saltutil.sync_all`: the bootstrap
        # runner's before the first orchestration, the operator's after changing them.
        autoload_dynamic_modules = false
        # After a master restart (the salt_master state's, an upgrade) the publish socket
        # reconnects every 1-2 s (libzmq adds up to one interval of jitter; a maximum below
        # the interval disables the back-off). Salt's defaults draw a first interval of
        # 1-11 s that doubles up to 10 s: jobs published meanwhile never reach the minion.
        recon_default = 1000
        recon_max     = 1000
        # Informational only: the state tree takes roles from the pillar, never from grains.
        grains = { kubesalt = { roles = n.roles } }
      }
      bootstrap_env = join("", [for k, v in {
        MINION_ID             = id
        SALT_MASTER_IP        = var.salt_master.private_ip
        SALT_VERSION          = var.salt_version
        SALT_REPO_URL         = "https://packages.broadcom.com/artifactory/saltproject-deb"
        SALT_KEY_URL          = "https://packages.broadcom.com/artifactory/api/security/keypair/SaltProjectKey/public"
        PRIVATE_CIDR          = var.networks.private_cidr
        MASTER_WAIT_SECONDS   = tostring(var.master_wait_seconds)
        ADMISSION_PORT        = tostring(local.admission_port)
        ADMISSION_FILE        = "/etc/kubesalt/admission.json"
        MASTER_CACHE_DIR      = local.master_cache_dir
        MASTER_PKI_DIR        = local.master_pki_dir
        MASTER_HOST_KEYS_DIR  = local.master_host_keys_dir
        PILLAR_DIR            = local.pillar_dir
        STATE_TREE_PATH       = local.state_tree_path
        STATE_TREE_REPOSITORY = coalesce(var.state_tree.repository, " ")
        STATE_TREE_REF        = var.state_tree.ref
      } : "${k}='${trimspace(v)}'\n"])
    }
  }
}
