locals {
  bootstrap_script = file("${path.module}/files/kubesalt-bootstrap.sh")

  # Files every host gets. write_files runs in cloud-init's init stage, before any package is
  # installed, so the salt-minion package starts (if it does) with our id, keys and master.
  common_files = {
    for id, n in local.nodes_by_id : id => concat(
      [
        { path = "/etc/hosts", permissions = "0644", owner = "root:root", defer = false, content = local.etc_hosts[id] },
        { path = "/etc/salt/minion_id", permissions = "0644", owner = "root:root", defer = false, content = "${id}\n" },
        {
          path        = "/etc/salt/minion.d/10-kubesalt-bootstrap.conf"
          permissions = "0644"
          owner       = "root:root"
          defer       = false
          content     = yamlencode(merge(var.extra_minion_config, local.host_config[id].minion, { master_finger = local.master_finger }))
        },
        { path = "${local.minion_pki_dir}/minion.pem", permissions = "0400", owner = "root:root", defer = false, content = var.minion_keys[id].private_key_pem },
        { path = "${local.minion_pki_dir}/minion.pub", permissions = "0644", owner = "root:root", defer = false, content = var.minion_keys[id].public_key_pem },
        # The master's public key in advance: the minion refuses a master with another key.
        { path = "${local.minion_pki_dir}/minion_master.pub", permissions = "0644", owner = "root:root", defer = false, content = var.master_key.public_key_pem },
        {
          path        = "/etc/apt/preferences.d/salt-pin-1001"
          permissions = "0644"
          owner       = "root:root"
          defer       = false
          content     = "Package: salt-*\nPin: version ${local.salt_pin}\nPin-Priority: 1001\n"
        },
        {
          path        = "/etc/apt/sources.list.d/salt.sources"
          permissions = "0644"
          owner       = "root:root"
          defer       = false
          content     = "Types: deb\nURIs: https://packages.broadcom.com/artifactory/saltproject-deb\nSuites: stable\nComponents: main\nSigned-By: /etc/apt/keyrings/salt-archive-keyring.pgp\n"
        },
        { path = "/etc/kubesalt/bootstrap.env", permissions = "0644", owner = "root:root", defer = false, content = local.host_config[id].bootstrap_env },
        { path = "/usr/local/sbin/kubesalt-bootstrap", permissions = "0755", owner = "root:root", defer = false, content = local.bootstrap_script },
        # What kubesalt-bootstrap sends the master's admission step (one JSON line).
        { path = "/etc/kubesalt/admission.json", permissions = "0600", owner = "root:root", defer = false, content = "${jsonencode(local.admission_requests[id])}\n" },
      ],
      var.manage_resolv_conf ? [{ path = "/etc/resolv.conf", permissions = "0644", owner = "root:root", defer = false, content = local.resolv_conf }] : [],
    )
  }

  # The master's keys, accepted minion keys, configuration and inventory pillar. Deferred to
  # the final stage so they land on the volume mounted on /srv by the init stage.
  master_files = concat(
    [
      { path = "${local.master_pki_dir}/master.pem", permissions = "0400", owner = "root:root", defer = true, content = var.master_key.private_key_pem },
      { path = "${local.master_pki_dir}/master.pub", permissions = "0644", owner = "root:root", defer = true, content = var.master_key.public_key_pem },
      { path = "${local.pillar_dir}/_from_terraform.sls", permissions = "0640", owner = "root:root", defer = true, content = local.inventory_yaml },
      { path = "/etc/salt/master.d/10-kubesalt-bootstrap.conf", permissions = "0644", owner = "root:root", defer = false, content = yamlencode(merge(var.extra_master_config, local.master_config)) },
      { path = "/etc/salt/master.d/50-kubesalt-reactor.conf", permissions = "0644", owner = "root:root", defer = false, content = yamlencode(local.reactor_config) },
    ],
    [for id in sort(keys(local.nodes_by_id)) : {
      path        = "${local.master_pki_dir}/minions/${id}"
      permissions = "0644"
      owner       = "root:root"
      defer       = true
      content     = var.minion_keys[id].public_key_pem
    }],
  )

  bastion_files = [
    { path = "/etc/sysctl.d/60-kubesalt-forward.conf", permissions = "0644", owner = "root:root", defer = false, content = "net.ipv4.ip_forward = 1\n" },
  ]

  # Hosts on both networks: the private interface gets its address and no default route
  # (the public side has the router); kubesalt-bootstrap runs `netplan apply`.
  netplan_files = {
    for id, mac in var.private_interface_macs : id => [{
      path        = "/etc/netplan/60-kubesalt-private.yaml"
      permissions = "0600"
      owner       = "root:root"
      defer       = false
      content = yamlencode({
        network = {
          version = 2
          ethernets = {
            private = {
              match       = { macaddress = mac }
              dhcp4       = false
              addresses   = ["${local.nodes_by_id[id].private_ip}/${split("/", var.networks.private_cidr)[1]}"]
              nameservers = { search = [local.domain], addresses = var.dns_nameservers }
            }
          }
        }
      })
    }]
  }

  volume_config = var.master_volume_device == null ? null : {
    disk_setup = { (var.master_volume_device) = { table_type = "gpt", layout = true, overwrite = false } }
    fs_setup   = [{ label = "kubesalt-srv", filesystem = "ext4", device = var.master_volume_device, partition = "auto", overwrite = false }]
    mounts     = [["LABEL=kubesalt-srv", "/srv", "ext4", "defaults,nofail", "0", "2"]]
  }

  user_data = {
    for id, n in local.nodes_by_id : id => "#cloud-config\n${yamlencode(merge(
      {
        hostname                  = n.hostname
        fqdn                      = id
        prefer_fqdn_over_hostname = false
        manage_etc_hosts          = false
        timezone                  = var.timezone
        # The state tree's core.locale; generated on no image, unlike the distro default.
        locale       = "C.UTF-8"
        ssh_pwauth   = false
        disable_root = true
        users        = concat([local.deploy_user], local.extra_users)
        write_files = concat(
          local.common_files[id],
          contains(n.roles, "salt_master") ? local.master_files : [],
          contains(n.roles, "bastion") ? local.bastion_files : [],
          try(local.netplan_files[id], []),
        )
        runcmd        = [concat(["/usr/local/sbin/kubesalt-bootstrap"], n.roles)]
        final_message = "kubesalt: ${id} (${join(",", n.roles)}) bootstrapped by cloud-init $VERSION after $UPTIME seconds"
      },
      { for k, v in { chpasswd = local.chpasswd } : k => v if v != null },
      contains(n.roles, "salt_master") ? local.volume_config : null,
    ))}"
  }
}
