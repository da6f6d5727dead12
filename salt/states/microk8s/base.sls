{%- from "map.jinja" import kubesalt with context %}
{%- set microk8s = kubesalt.microk8s %}

# Read once, when the snap installs (later edits do not change an installed MicroK8s): pod
# and service networks, certificate SAN and DNS address of the service network, node IP.
microk8s-base-launch-config:
  file.serialize:
    - name: /etc/microk8s.yaml
    - serializer: yaml
    - user: root
    - group: root
    - mode: '0644'
    - dataset: {{ salt['cluster.launch_config'](kubesalt) | json }}

microk8s-base-installed:
  microk8s.installed:
    - name: microk8s
    - channel: {{ microk8s.channel | json }}
    - require:
      - file: microk8s-base-launch-config

microk8s-base-running:
  microk8s.running:
    - name: microk8s
    - require:
      - microk8s: microk8s-base-installed
{%- if grains['id'] in microk8s.control_planes %}
{%- set sans = ([microk8s.floating_ip] if microk8s.floating_ip else []) + microk8s.extra_sans %}
{%- for san in sans | unique %}

# The API server certificate also names the floating IP and the API load balancer's VIP;
# the certificates are refreshed only when a SAN was missing.
microk8s-base-extra-san-{{ san }}:
  microk8s.extra_san_present:
    - name: {{ san | json }}
    - require:
      - microk8s: microk8s-base-running
    - require_in:
      - module: microk8s-base-mine-update
{%- endfor %}
{%- endif %}

# Publish the private address (and, on control planes, the join address and certificate
# fingerprint) as soon as they exist or change, not at the next mine interval.
microk8s-base-mine-update:
  module.run:
    - mine.update: []
    - onchanges:
      - microk8s: microk8s-base-installed
      - microk8s: microk8s-base-running
