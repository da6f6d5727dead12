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
  resolv:
    # What `kubesalt lab up` writes: no DNS server answers in the lab (no traffic leaves
    # it); every lab name is in /etc/hosts.
    nameservers:
      - 10.0.0.254
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
