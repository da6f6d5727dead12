# Settings of every environment. The state tree's defaults (salt/states/defaults.yaml) apply
# under this layer; environments/<domain> and minions/... layers override it.
# Every key is documented in pillar.example and docs/pillar.md.
kubesalt:
  packages:
    # Cloud images start behind on updates: upgrade them fully on every run.
    upgrade: true
  resolv:
    nameservers:
      - 1.1.1.1
      - 1.0.0.1
  microk8s:
    # Seconds a registered join token stays valid on the bootstrap control plane.
    token_ttl: 3600
