{%- from "map.jinja" import kubesalt with context %}
{%- set microk8s = kubesalt.microk8s %}

microk8s-base-installed:
  microk8s.installed:
    - name: microk8s
    - channel: {{ microk8s.channel | json }}

microk8s-base-running:
  microk8s.running:
    - name: microk8s
    - require:
      - microk8s: microk8s-base-installed
{%- if microk8s.floating_ip and grains['id'] in microk8s.control_planes %}

# The API server certificate also names the floating IP; the certificates are refreshed
# only when the SAN was missing.
microk8s-base-extra-san:
  microk8s.extra_san_present:
    - name: {{ microk8s.floating_ip | json }}
    - require:
      - microk8s: microk8s-base-running
    - require_in:
      - module: microk8s-base-mine-update
{%- endif %}

# Publish the private address (and, on control planes, the join address and certificate
# fingerprint) as soon as they exist or change, not at the next mine interval.
microk8s-base-mine-update:
  module.run:
    - mine.update: []
    - onchanges:
      - microk8s: microk8s-base-installed
      - microk8s: microk8s-base-running
