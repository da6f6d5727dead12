# Settings of every environment. The state tree's defaults (salt/states/defaults.yaml) apply
# under this layer; environments/<domain> and minions/... layers override it.
# Every key is documented in pillar.example and docs/pillar.md. A default lives in one
# place: here only what every environment sets differently from defaults.yaml.
kubesalt:
  packages:
    # Cloud images start behind on updates: upgrade them fully on every run.
    upgrade: true
