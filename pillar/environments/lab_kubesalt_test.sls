# The lab (kubesalt lab up): isolated hosts in Linux namespaces on one machine, with no
# network beyond the lab's own. Nothing may need a package mirror, and nothing may touch
# kernel settings that are not per network namespace (they would change the machine that
# runs the lab).
kubesalt:
  packages:
    upgrade: false
    refresh: false
    # Already installed on the machine the lab's hosts are copied from.
    install:
      - ca-certificates
      - curl
      - openssh-server
      - iptables
  bastion:
    packages:
      - fail2ban
      - iptables
    fail2ban:
      # Enabled at boot by its package already; debian_service (no systemd in the lab)
      # would try to enable it again on every run.
      enable: null
  # No resolv here: the resolvers come with the inventory (Terraform's dns_nameservers in
  # the lab cloud, the lab's own resolver from `kubesalt lab up`). Both share this domain,
  # so an address set here would be wrong for one of them.
  sysctl:
    # Global (not per namespace) kernel settings: set on real hosts only.
    fs.file-max: null
    fs.nr_open: null
    fs.inotify.max_user_instances: null
    fs.inotify.max_user_watches: null
  master:
    # Where `kubesalt lab up` mounts the work tree and writes the inventory.
    file_roots:
      - /srv/kubesalt/states
      - /srv/kubesalt/salt
    pillar_roots:
      - /srv/kubesalt/lab-pillar
      - /srv/kubesalt/pillar
    # The lab's tests read the master's log for key acceptance ("New public key ... placed in
    # pending", logged at info). `kubesalt lab up` starts the master with the same value
    # (kubesalt/lab/saltconf.py; tests/unit/lab/test_lab_master_config.py holds them equal).
    log_level_logfile: info

# MAAS in the lab (`kubesalt lab up --maas`): the region host maas-region runs a private
# PostgreSQL 15 cluster (kubesalt sim maas postgres, socket in /var/lib/kubesalt-pg/sock),
# racks maas-rack-0/1. LAB-ONLY SECRETS: these passwords exist only in the throwaway lab;
# a real environment puts its own in an encrypted pillar, never in this tree.
maas:
  db:
    password: lab-only-maas-db-password
    host: 10.1.0.30
    port: 5432
    superuser:
      runas: postgres
      db_user: postgres
      db_host: /var/lib/kubesalt-pg/sock
      db_port: 5432
  region:
    maas_url: http://10.1.0.30:5240/MAAS
  admin:
    email: admin@lab.kubesalt.test
    password: lab-only-maas-admin-password
  selections:
    # jammy: MAAS 3.4's default (commissioning) selection; noble: one Salt creates.
    - os: ubuntu
      release: jammy
      arches: [amd64]
      subarches: ['*']
      labels: ['*']
    - os: ubuntu
      release: noble
      arches: [amd64]
      subarches: ['*']
      labels: ['*']
  sync:
    # The simulator imports in seconds.
    timeout: 120
