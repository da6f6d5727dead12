{%- from "map.jinja" import kubesalt with context %}
{%- set microk8s = kubesalt.microk8s %}
{%- set membership = salt['cluster.membership'](kubesalt) %}
{#- The bootstrap control plane (first of kubesalt:microk8s:control_planes): it carries the
    addons, registers the join token of every node not in the cluster yet, with a TTL (the
    state reads each token from this node's pillar: no token is rendered here), and removes the nodes that left the inventory. #}
include:
  - microk8s.base
  - microk8s.addons
  - microk8s.tokens

microk8s-tokens-after:
  test.nop:
    - require:
      - microk8s: microk8s-base-running
{%- for node in membership.stale %}

{{ ('microk8s-master-removed-' ~ node) | json }}:
  microk8s.node_removed:
    - name: {{ node | json }}
    - require:
      - microk8s: microk8s-base-running
{%- endfor %}
