# Rendering variants, offline: no provider, no init. `terraform test` in modules/cloudinit.

variables {
  domain = "example.internal"
  master_key = {
    public_key_pem  = "-----BEGIN PUBLIC KEY-----\nTUFTVEVS\n-----END PUBLIC KEY-----\n"
    private_key_pem = "-----BEGIN RSA PRIVATE KEY-----\nTUFTVEVSLVBSSVZBVEU=\n-----END RSA PRIVATE KEY-----\n"
  }
  minion_keys = {
    "salt.example.internal"         = { public_key_pem = "-----BEGIN PUBLIC KEY-----\nU0FMVA==\n-----END PUBLIC KEY-----\n", private_key_pem = "-----BEGIN RSA PRIVATE KEY-----\nU0FMVC1Q\n-----END RSA PRIVATE KEY-----\n" }
    "bastion.example.internal"      = { public_key_pem = "-----BEGIN PUBLIC KEY-----\nQkFTVElPTg==\n-----END PUBLIC KEY-----\n", private_key_pem = "-----BEGIN RSA PRIVATE KEY-----\nQkFTVElPTi1Q\n-----END RSA PRIVATE KEY-----\n" }
    "k8s-master.example.internal"   = { public_key_pem = "-----BEGIN PUBLIC KEY-----\nTUFTVEVSMQ==\n-----END PUBLIC KEY-----\n", private_key_pem = "-----BEGIN RSA PRIVATE KEY-----\nTUFTVEVSMS1Q\n-----END RSA PRIVATE KEY-----\n" }
    "k8s-master-1.example.internal" = { public_key_pem = "-----BEGIN PUBLIC KEY-----\nQ1Ax\n-----END PUBLIC KEY-----\n", private_key_pem = "-----BEGIN RSA PRIVATE KEY-----\nQ1AxLVA=\n-----END RSA PRIVATE KEY-----\n" }
    "k8s-master-2.example.internal" = { public_key_pem = "-----BEGIN PUBLIC KEY-----\nQ1Ay\n-----END PUBLIC KEY-----\n", private_key_pem = "-----BEGIN RSA PRIVATE KEY-----\nQ1AyLVA=\n-----END RSA PRIVATE KEY-----\n" }
    "k8s-worker-0.example.internal" = { public_key_pem = "-----BEGIN PUBLIC KEY-----\nVzA=\n-----END PUBLIC KEY-----\n", private_key_pem = "-----BEGIN RSA PRIVATE KEY-----\nVzAtUA==\n-----END RSA PRIVATE KEY-----\n" }
    "k8s-worker-1.example.internal" = { public_key_pem = "-----BEGIN PUBLIC KEY-----\nVzE=\n-----END PUBLIC KEY-----\n", private_key_pem = "-----BEGIN RSA PRIVATE KEY-----\nVzEtUA==\n-----END RSA PRIVATE KEY-----\n" }
    "k8s-worker-2.example.internal" = { public_key_pem = "-----BEGIN PUBLIC KEY-----\nVzI=\n-----END PUBLIC KEY-----\n", private_key_pem = "-----BEGIN RSA PRIVATE KEY-----\nVzItUA==\n-----END RSA PRIVATE KEY-----\n" }
  }
  floating_ip = "203.0.113.20"
}

run "defaults_one_control_plane_one_worker" {
  command = plan

  assert {
    condition = output.inventory == {
      kubesalt = {
        domain      = "example.internal"
        networks    = { public_cidr = "10.0.0.0/16", private_cidr = "10.1.0.0/16", pod_cidr = "10.244.0.0/16", service_cidr = "10.152.183.0/24" }
        salt_master = "salt.example.internal"
        microk8s = {
          control_planes = ["k8s-master.example.internal"]
          workers        = ["k8s-worker-0.example.internal"]
          floating_ip    = "203.0.113.20"
          channel        = "1.32/stable"
        }
        nodes = {
          "salt.example.internal"         = { roles = ["salt_master"], private_ip = "10.1.0.5" }
          "bastion.example.internal"      = { roles = ["bastion"], private_ip = "10.1.0.1", public_ip = "10.0.0.10" }
          "k8s-master.example.internal"   = { roles = ["microk8s_control_plane"], private_ip = "10.1.0.10", public_ip = "10.0.0.20" }
          "k8s-worker-0.example.internal" = { roles = ["microk8s_worker"], private_ip = "10.1.0.100" }
        }
        resolv = { nameservers = ["1.1.1.1", "1.0.0.1"] }
      }
    }
    error_message = "The inventory pillar does not have the contracted shape."
  }

  assert {
    condition     = yamldecode(output.inventory_yaml) == output.inventory
    error_message = "inventory_yaml does not decode to the inventory."
  }

  assert {
    condition     = keys(output.user_data) == ["bastion.example.internal", "k8s-master.example.internal", "k8s-worker-0.example.internal", "salt.example.internal"]
    error_message = "Expected one user-data per host."
  }

  assert {
    condition     = keys(output.user_data_base64gzip) == keys(output.user_data) && alltrue([for id, ud in output.user_data_base64gzip : startswith(ud, "H4sI")])
    error_message = "Every host needs a gzip+base64 user-data for Nova."
  }

  assert {
    condition     = alltrue([for id, ud in output.user_data : startswith(ud, "#cloud-config\n")])
    error_message = "Every user-data must start with #cloud-config."
  }

  assert {
    condition     = yamldecode(output.user_data["k8s-worker-0.example.internal"]).hostname == "k8s-worker-0" && yamldecode(output.user_data["k8s-worker-0.example.internal"]).fqdn == "k8s-worker-0.example.internal"
    error_message = "Hostname and FQDN of the worker are wrong."
  }

  assert {
    condition     = !contains(keys(yamldecode(output.user_data["k8s-worker-0.example.internal"])), "chpasswd")
    error_message = "No root password was asked for: chpasswd must be absent."
  }

  assert {
    # The master pre-accepts every minion key, byte for byte.
    condition = alltrue([for id in keys(output.hosts) :
      one([for f in yamldecode(output.user_data["salt.example.internal"]).write_files : f.content if f.path == "/srv/pki/master/minions/${id}"]) == var.minion_keys[id].public_key_pem
    ])
    error_message = "The master must hold every minion's public key under pki/master/minions/<id>."
  }

  assert {
    condition     = yamldecode(one([for f in yamldecode(output.user_data["salt.example.internal"]).write_files : f.content if f.path == "/srv/pillar/_from_terraform.sls"])) == output.inventory
    error_message = "The master's _from_terraform.sls must be the inventory."
  }

  assert {
    # A minion holds only its own private key, the master's public key and the fingerprint.
    condition = (
      one([for f in yamldecode(output.user_data["k8s-worker-0.example.internal"]).write_files : f.content if f.path == "/etc/salt/pki/minion/minion.pem"]) == var.minion_keys["k8s-worker-0.example.internal"].private_key_pem
      && length([for f in yamldecode(output.user_data["k8s-worker-0.example.internal"]).write_files : f if strcontains(f.content, "RSA PRIVATE KEY")]) == 1
      # Salt's pem_finger of the master key: sha256 of "TUFTVEVS\n".
      && yamldecode(one([for f in yamldecode(output.user_data["k8s-worker-0.example.internal"]).write_files : f.content if f.path == "/etc/salt/minion.d/10-kubesalt-bootstrap.conf"])).master_finger == "c4:b8:7a:72:fb:6e:ed:7b:45:06:ca:37:2b:6c:0c:11:3c:c0:5e:b8:3c:e7:2b:a3:62:2f:f4:5d:83:50:65:82"
    )
    error_message = "A minion must carry its own key only, and the pinned master fingerprint."
  }

  assert {
    condition     = yamldecode(output.user_data["salt.example.internal"]).mounts == [["LABEL=kubesalt-srv", "/srv", "ext4", "defaults,nofail", "0", "2"]]
    error_message = "The master's volume must be mounted on /srv."
  }

  assert {
    condition     = !contains(keys(yamldecode(output.user_data["k8s-master.example.internal"])), "mounts")
    error_message = "Only the master mounts a volume."
  }

  assert {
    condition     = yamldecode(output.user_data["bastion.example.internal"]).runcmd == [["/usr/local/sbin/kubesalt-bootstrap", "bastion"]]
    error_message = "The bastion's runcmd must run the bootstrap with its role."
  }

  assert {
    condition     = strcontains(yamldecode(output.user_data["k8s-master.example.internal"]).final_message, "kubesalt: k8s-master.example.internal")
    error_message = "The final message must name the host."
  }
}

run "root_password_users_three_control_planes_three_workers" {
  command = plan

  variables {
    set_root_password      = true
    root_password          = "$6$saltsalt$hashhashhash"
    deploy_ssh_public_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOperator operator@example"]
    users = [
      { name = "alice", ssh_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAlice alice@example"], sudo = true },
      { name = "bob", ssh_keys = ["ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQBob bob@example"] },
    ]
    control_planes = [
      { hostname = "k8s-master", private_ip = "10.1.0.10", public_ip = "10.0.0.20" },
      { hostname = "k8s-master-1", private_ip = "10.1.0.11" },
      { hostname = "k8s-master-2", private_ip = "10.1.0.12" },
    ]
    workers = [
      { hostname = "k8s-worker-0", private_ip = "10.1.0.100" },
      { hostname = "k8s-worker-1", private_ip = "10.1.0.101" },
      { hostname = "k8s-worker-2", private_ip = "10.1.0.102" },
    ]
  }

  assert {
    condition     = output.inventory.kubesalt.microk8s.control_planes == ["k8s-master.example.internal", "k8s-master-1.example.internal", "k8s-master-2.example.internal"]
    error_message = "Control planes must keep their order (the first bootstraps)."
  }

  assert {
    condition     = length(output.inventory.kubesalt.microk8s.workers) == 3 && length(output.user_data) == 8
    error_message = "Expected 3 workers and 8 user-data documents."
  }

  assert {
    condition     = output.inventory.kubesalt.nodes["k8s-master-1.example.internal"] == { roles = ["microk8s_control_plane"], private_ip = "10.1.0.11" }
    error_message = "A control plane without a public address has no public_ip key."
  }

  assert {
    condition     = yamldecode(output.user_data["k8s-worker-2.example.internal"]).chpasswd == { expire = false, users = [{ name = "root", password = "$6$saltsalt$hashhashhash", type = "hash" }] }
    error_message = "A crypt hash must be passed as type hash."
  }

  assert {
    condition     = [for u in yamldecode(output.user_data["k8s-worker-2.example.internal"]).users : u.name] == ["kubesalt", "alice", "bob"]
    error_message = "Expected the deploy user then the extra users."
  }

  assert {
    condition     = [for u in yamldecode(output.user_data["salt.example.internal"]).users : lookup(u, "sudo", null)] == ["ALL=(ALL) NOPASSWD:ALL", "ALL=(ALL) NOPASSWD:ALL", null]
    error_message = "Only the deploy user and users with sudo = true get sudo."
  }

  assert {
    condition     = yamldecode(output.user_data["k8s-worker-2.example.internal"]).ssh_pwauth == false
    error_message = "SSH password login must stay off, root password or not."
  }
}

run "clear_text_root_password_no_volume_no_floating_ip" {
  command = plan

  variables {
    set_root_password    = true
    root_password        = "correct horse battery"
    master_volume_device = null
    floating_ip          = null
    manage_resolv_conf   = false
  }

  assert {
    condition     = yamldecode(output.user_data["salt.example.internal"]).chpasswd.users[0].type == "text"
    error_message = "A clear password must be passed as type text."
  }

  assert {
    condition     = !contains(keys(yamldecode(output.user_data["salt.example.internal"])), "disk_setup") && !contains(keys(yamldecode(output.user_data["salt.example.internal"])), "mounts")
    error_message = "Without a volume there is no disk_setup and no mount."
  }

  assert {
    condition     = !contains(keys(output.inventory.kubesalt.microk8s), "floating_ip")
    error_message = "Without a floating IP the key is left out."
  }


  assert {
    condition     = length([for f in yamldecode(output.user_data["k8s-worker-0.example.internal"]).write_files : f if f.path == "/etc/resolv.conf"]) == 0
    error_message = "manage_resolv_conf = false must not write resolv.conf."
  }
}

# Every validation failure, each naming its variable (expect_failures).

run "salt_version_pins_apt" {
  command = plan

  assert {
    # The default major pins every release of it; apt takes the newest (3008.3+ has the fix).
    condition     = one([for f in yamldecode(output.user_data["k8s-worker-0.example.internal"]).write_files : f.content if f.path == "/etc/apt/preferences.d/salt-pin-1001"]) == "Package: salt-*\nPin: version 3008.*\nPin-Priority: 1001\n"
    error_message = "The default salt_version must pin Salt 3008.*."
  }
}

run "salt_version_exact_release" {
  command = plan
  variables { salt_version = "3008.4" }

  assert {
    condition     = one([for f in yamldecode(output.user_data["salt.example.internal"]).write_files : f.content if f.path == "/etc/apt/preferences.d/salt-pin-1001"]) == "Package: salt-*\nPin: version 3008.4*\nPin-Priority: 1001\n" && strcontains(one([for f in yamldecode(output.user_data["salt.example.internal"]).write_files : f.content if f.path == "/etc/kubesalt/bootstrap.env"]), "SALT_VERSION='3008.4'")
    error_message = "salt_version 3008.4 must pin 3008.4 and reach the bootstrap."
  }
}

run "salt_version_newer_major" {
  command = plan
  variables { salt_version = "3009" }
}

run "bad_domain_not_a_dns_name" {
  command = plan
  variables { domain = "Not a domain!" }
  expect_failures = [var.domain]
}

run "bad_domain_single_label" {
  command = plan
  variables { domain = "internal" }
  expect_failures = [var.domain]
}

run "bad_networks_same_cidr" {
  command = plan
  variables { networks = { public_cidr = "10.1.0.0/16", private_cidr = "10.1.0.0/16" } }
  expect_failures = [var.networks]
}

run "networks_pod_cidr_overlaps_the_private_network" {
  # MicroK8s' own default pod network is 10.1.0.0/16: the private network
  command = plan
  variables { networks = { public_cidr = "10.0.0.0/16", private_cidr = "10.1.0.0/16", pod_cidr = "10.1.0.0/16" } }
  expect_failures = [var.networks]
}

run "networks_service_cidr_inside_the_public_network" {
  command = plan
  variables { networks = { public_cidr = "10.0.0.0/16", private_cidr = "10.1.0.0/16", service_cidr = "10.0.200.0/24" } }
  expect_failures = [var.networks]
}

run "networks_public_inside_private" {
  command = plan
  variables { networks = { public_cidr = "10.1.128.0/17", private_cidr = "10.1.0.0/16" } }
  expect_failures = [var.networks]
}

run "networks_not_a_network_address" {
  command = plan
  variables { networks = { public_cidr = "10.0.0.0/16", private_cidr = "10.1.2.3/16" } }
  expect_failures = [var.networks]
}

run "networks_own_pod_and_service_cidrs" {
  command = plan
  variables { networks = { public_cidr = "192.168.0.0/16", private_cidr = "172.16.0.0/16", pod_cidr = "10.1.0.0/16", service_cidr = "10.152.0.0/16" } }
  assert {
    condition     = output.inventory.kubesalt.networks.pod_cidr == "10.1.0.0/16" && output.inventory.kubesalt.networks.service_cidr == "10.152.0.0/16"
    error_message = "pod_cidr and service_cidr reach the inventory pillar"
  }
}

run "bad_salt_master_address" {
  command = plan
  variables { salt_master = { hostname = "salt", private_ip = "10.1.0.500" } }
  expect_failures = [var.salt_master]
}

run "bad_bastion_hostname" {
  command = plan
  variables { bastion = { hostname = "Bastion_1", private_ip = "10.1.0.1", public_ip = "10.0.0.10" } }
  expect_failures = [var.bastion]
}

run "zero_control_planes" {
  command = plan
  variables { control_planes = [] }
  expect_failures = [var.control_planes]
}

run "bad_control_plane_address" {
  command = plan
  variables { control_planes = [{ hostname = "k8s-master", private_ip = "10.1.0.10", public_ip = "nowhere" }] }
  expect_failures = [var.control_planes]
}

run "zero_workers" {
  command = plan
  variables { workers = [] }
  expect_failures = [var.workers]
}

run "duplicate_worker_address" {
  command = plan
  variables {
    workers = [
      { hostname = "k8s-worker-0", private_ip = "10.1.0.100" },
      { hostname = "k8s-worker-1", private_ip = "10.1.0.100" },
    ]
  }
  expect_failures = [var.workers]
}

run "worker_named_like_the_master" {
  command = plan
  variables { workers = [{ hostname = "salt", private_ip = "10.1.0.100" }] }
  expect_failures = [var.workers]
}

run "api_load_balancer_with_and_without_floating_ip" {
  command = plan

  variables {
    control_planes = [
      { hostname = "k8s-master", private_ip = "10.1.0.10", public_ip = "10.0.0.20" },
      { hostname = "k8s-master-1", private_ip = "10.1.0.11" },
      { hostname = "k8s-master-2", private_ip = "10.1.0.12" },
    ]
    api_load_balancer_vip = "10.0.0.30"
  }

  assert {
    condition     = output.inventory.kubesalt.microk8s.api_address == "203.0.113.20" && output.inventory.kubesalt.microk8s.extra_sans == ["10.0.0.30"] && output.inventory.kubesalt.microk8s.floating_ip == "203.0.113.20"
    error_message = "With a load balancer, the API address is its floating IP and its VIP is an extra SAN."
  }
}

run "api_load_balancer_without_floating_ip" {
  command = plan

  variables {
    control_planes = [
      { hostname = "k8s-master", private_ip = "10.1.0.10" },
      { hostname = "k8s-master-1", private_ip = "10.1.0.11" },
      { hostname = "k8s-master-2", private_ip = "10.1.0.12" },
    ]
    floating_ip           = null
    api_load_balancer_vip = "10.0.0.30"
  }

  assert {
    condition     = output.inventory.kubesalt.microk8s.api_address == "10.0.0.30" && !contains(keys(output.inventory.kubesalt.microk8s), "floating_ip")
    error_message = "Without a floating IP, the API address is the load balancer's VIP."
  }
}

run "bad_api_load_balancer_vip" {
  command = plan
  variables { api_load_balancer_vip = "10.0.0" }
  expect_failures = [var.api_load_balancer_vip]
}

run "bad_floating_ip" {
  command = plan
  variables { floating_ip = "203.0.113" }
  expect_failures = [var.floating_ip]
}

run "bad_microk8s_channel" {
  command = plan
  variables { microk8s_channel = "stable" }
  expect_failures = [var.microk8s_channel]
}

run "bad_salt_version" {
  command = plan
  variables { salt_version = "latest" }
  expect_failures = [var.salt_version]
}

# Minions older than 3008.3 may never reconnect after a master restart (saltstack/salt#67947).
run "salt_version_without_the_reconnect_fix" {
  command = plan
  variables { salt_version = "3008.2" }
  expect_failures = [var.salt_version]
}

run "salt_version_older_major" {
  command = plan
  variables { salt_version = "3007" }
  expect_failures = [var.salt_version]
}

run "bad_timezone" {
  command = plan
  variables { timezone = "UTC; rm -rf /" }
  expect_failures = [var.timezone]
}

run "bad_dns_nameservers" {
  command = plan
  variables { dns_nameservers = [] }
  expect_failures = [var.dns_nameservers]
}

run "root_password_without_set_root_password" {
  command = plan
  variables { root_password = "a-long-enough-password" }
  expect_failures = [var.root_password]
}

run "set_root_password_without_password" {
  command = plan
  variables { set_root_password = true }
  expect_failures = [var.root_password]
}

run "bad_deploy_user" {
  command = plan
  variables { deploy_user = "root" }
  expect_failures = [var.deploy_user]
}

run "bad_deploy_ssh_key" {
  command = plan
  variables { deploy_ssh_public_keys = ["not a key"] }
  expect_failures = [var.deploy_ssh_public_keys]
}

run "deploy_ssh_key_with_an_embedded_line" {
  # a second line would become a second authorized_keys entry (options, another key)
  command = plan
  variables { deploy_ssh_public_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKey k@example\ncommand=\"sh\" ssh-rsa AAAAB3Nza x"] }
  expect_failures = [var.deploy_ssh_public_keys]
}

run "user_key_with_an_embedded_line" {
  command = plan
  variables { users = [{ name = "alice", ssh_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKey\nssh-rsa AAAAB3Nza x"] }] }
  expect_failures = [var.users]
}

run "extra_master_config_autosign_file" {
  command = plan
  variables { extra_master_config = { autosign_file = "/etc/salt/autosign.conf" } }
  expect_failures = [var.extra_master_config]
}

run "extra_master_config_autosign_grains_dir" {
  command = plan
  variables { extra_master_config = { autosign_grains_dir = "/etc/salt/autosign_grains" } }
  expect_failures = [var.extra_master_config]
}

run "extra_master_config_auto_accept" {
  command = plan
  variables { extra_master_config = { auto_accept = true } }
  expect_failures = [var.extra_master_config]
}

run "master_wait_seconds_fractional" {
  command = plan
  variables { master_wait_seconds = 1.5 }
  expect_failures = [var.master_wait_seconds]
}

run "user_without_key" {
  command = plan
  variables { users = [{ name = "alice", ssh_keys = [] }] }
  expect_failures = [var.users]
}

run "user_with_bad_key_and_bad_name" {
  command = plan
  variables { users = [{ name = "Alice Smith", ssh_keys = ["password123"] }] }
  expect_failures = [var.users]
}

run "user_named_like_the_deploy_user" {
  command = plan
  variables { users = [{ name = "kubesalt", ssh_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKey k@example"] }] }
  expect_failures = [var.users]
}

run "minion_key_missing_for_a_worker" {
  command = plan
  variables { workers = [{ hostname = "k8s-worker-9", private_ip = "10.1.0.109" }] }
  expect_failures = [var.minion_keys]
}

run "minion_key_in_the_wrong_encoding" {
  command = plan
  variables {
    minion_keys = {
      "salt.example.internal"         = { public_key_pem = "-----BEGIN RSA PUBLIC KEY-----\nU0FMVA==\n-----END RSA PUBLIC KEY-----\n", private_key_pem = "-----BEGIN RSA PRIVATE KEY-----\nU0FMVC1Q\n-----END RSA PRIVATE KEY-----\n" }
      "bastion.example.internal"      = { public_key_pem = "-----BEGIN PUBLIC KEY-----\nQkFTVElPTg==\n-----END PUBLIC KEY-----\n", private_key_pem = "-----BEGIN RSA PRIVATE KEY-----\nQkFTVElPTi1Q\n-----END RSA PRIVATE KEY-----\n" }
      "k8s-master.example.internal"   = { public_key_pem = "-----BEGIN PUBLIC KEY-----\nTUFTVEVSMQ==\n-----END PUBLIC KEY-----\n", private_key_pem = "-----BEGIN RSA PRIVATE KEY-----\nTUFTVEVSMS1Q\n-----END RSA PRIVATE KEY-----\n" }
      "k8s-worker-0.example.internal" = { public_key_pem = "-----BEGIN PUBLIC KEY-----\nVzA=\n-----END PUBLIC KEY-----\n", private_key_pem = "-----BEGIN RSA PRIVATE KEY-----\nVzAtUA==\n-----END RSA PRIVATE KEY-----\n" }
    }
  }
  expect_failures = [var.minion_keys]
}

run "master_key_in_the_wrong_encoding" {
  command = plan
  variables {
    master_key = {
      public_key_pem  = "ssh-rsa AAAAB3NzaC1yc2E master"
      private_key_pem = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbg==\n-----END OPENSSH PRIVATE KEY-----\n"
    }
  }
  expect_failures = [var.master_key]
}

run "bad_master_volume_device" {
  command = plan
  variables { master_volume_device = "vdb" }
  expect_failures = [var.master_volume_device]
}

run "bad_state_tree" {
  command = plan
  variables { state_tree = { repository = "https://example.com/kubesalt.git'; reboot; '", path = "/srv/kubesalt" } }
  expect_failures = [var.state_tree]
}

run "bad_private_interface_mac" {
  command = plan
  variables { private_interface_macs = { "bastion.example.internal" = "FA:16:3E:00:00:01" } }
  expect_failures = [var.private_interface_macs]
}

run "private_interface_mac_for_an_unknown_host" {
  command = plan
  variables { private_interface_macs = { "bastion.elsewhere.internal" = "fa:16:3e:00:00:01" } }
  expect_failures = [var.private_interface_macs]
}

run "extra_config_may_not_override_identity_or_trust" {
  command = plan
  variables { extra_minion_config = { master = "203.0.113.66" } }
  expect_failures = [var.extra_minion_config]
}

run "extra_master_config_may_not_open_the_master" {
  command = plan
  variables { extra_master_config = { auto_accept = true } }
  expect_failures = [var.extra_master_config]
}

run "extra_config_is_merged" {
  command = plan
  variables {
    extra_minion_config = { enable_fqdns_grains = false, disable_modules = ["systemd_service"] }
    extra_master_config = { worker_threads = 2 }
  }

  assert {
    condition     = yamldecode(one([for f in yamldecode(output.user_data["k8s-worker-0.example.internal"]).write_files : f.content if f.path == "/etc/salt/minion.d/10-kubesalt-bootstrap.conf"])).disable_modules == ["systemd_service"]
    error_message = "extra_minion_config must reach the minion configuration."
  }

  assert {
    condition     = yamldecode(one([for f in yamldecode(output.user_data["salt.example.internal"]).write_files : f.content if f.path == "/etc/salt/master.d/10-kubesalt-bootstrap.conf"])).worker_threads == 2
    error_message = "extra_master_config must reach the master configuration."
  }
}

run "bad_master_wait_seconds" {
  command = plan
  variables { master_wait_seconds = -1 }
  expect_failures = [var.master_wait_seconds]
}

run "master_user_data_over_the_nova_limit" {
  command = plan
  variables {
    # One accepted minion key padded with 256 kB of hex that gzip cannot shrink enough.
    minion_keys = merge(var.minion_keys, {
      "k8s-worker-0.example.internal" = {
        public_key_pem  = "-----BEGIN PUBLIC KEY-----\n${join("\n", [for i in range(1000) : "${sha512(tostring(i))}${sha512("x${i}")}"])}\n-----END PUBLIC KEY-----\n"
        private_key_pem = "-----BEGIN RSA PRIVATE KEY-----\nVzAtUA==\n-----END RSA PRIVATE KEY-----\n"
      }
    })
  }
  expect_failures = [output.user_data_base64gzip]
}

# Extra nodes (the lab's MAAS hosts): in the inventory with their roles, with user-data.

run "extra_nodes_in_the_inventory" {
  command = plan
  variables {
    extra_nodes = [
      { hostname = "maas-region", private_ip = "10.1.0.30", roles = ["maas_db", "maas_region"] },
      { hostname = "maas-rack-0", private_ip = "10.1.0.31", roles = ["maas_rack"] },
    ]
    minion_keys = merge(var.minion_keys, {
      "maas-region.example.internal" = { public_key_pem = "-----BEGIN PUBLIC KEY-----\nUkVH\n-----END PUBLIC KEY-----\n", private_key_pem = "-----BEGIN RSA PRIVATE KEY-----\nUkVHLVA=\n-----END RSA PRIVATE KEY-----\n" }
      "maas-rack-0.example.internal" = { public_key_pem = "-----BEGIN PUBLIC KEY-----\nUkFDSw==\n-----END PUBLIC KEY-----\n", private_key_pem = "-----BEGIN RSA PRIVATE KEY-----\nUkFDSy1Q\n-----END RSA PRIVATE KEY-----\n" }
    })
  }

  assert {
    condition = (
      jsonencode(output.inventory.kubesalt.nodes["maas-region.example.internal"]) == jsonencode({ roles = ["maas_db", "maas_region"], private_ip = "10.1.0.30" })
      && jsonencode(output.inventory.kubesalt.nodes["maas-rack-0.example.internal"]) == jsonencode({ roles = ["maas_rack"], private_ip = "10.1.0.31" })
    )
    error_message = "Extra nodes must be in the inventory with their roles."
  }

  assert {
    condition     = output.inventory.kubesalt.microk8s.workers == ["k8s-worker-0.example.internal"]
    error_message = "Extra nodes are not Kubernetes nodes."
  }

  assert {
    condition     = contains(keys(output.user_data), "maas-rack-0.example.internal") && yamldecode(output.user_data["maas-rack-0.example.internal"]).hostname == "maas-rack-0"
    error_message = "Every extra node needs its user-data."
  }
}

run "bad_extra_node_reserved_role" {
  command = plan
  variables { extra_nodes = [{ hostname = "maas-region", private_ip = "10.1.0.30", roles = ["bastion"] }] }
  expect_failures = [var.extra_nodes]
}

run "bad_extra_node_duplicate_address" {
  command = plan
  variables { extra_nodes = [{ hostname = "maas-region", private_ip = "10.1.0.100", roles = ["maas_region"] }] }
  expect_failures = [var.extra_nodes]
}
