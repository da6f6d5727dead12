{%- from "map.jinja" import kubesalt with context %}
{%- set microk8s = kubesalt.microk8s %}
{%- set tokens = microk8s.get('join_tokens', {}) %}
{%- set membership = salt['kubesalt.membership'](kubesalt) %}
{#- The bootstrap control plane (first of kubesalt:microk8s:control_planes): it carries the
    addons, registers the join token of every node not in the cluster yet, with a TTL (the
    state reads each token from this node's pillar: no token is rendered here), and removes the nodes that left the inventory. #}
include:
  - microk8s.base
  - microk8s.addons
{%- for node_id in membership.pending %}
{%- if node_id in tokens %}

microk8s-master-token-{{ node_id }}:
  microk8s.token_registered:
    - name: {{ node_id | json }}
    - token_pillar: kubesalt:microk8s:join_tokens:{{ node_id }}
    - ttl: {{ microk8s.token_ttl }}
    - require:
      - microk8s: microk8s-base-running
{%- else %}

microk8s-master-token-{{ node_id }}:
  test.fail_without_changes:
    - comment: >-
        pillar kubesalt:microk8s:join_tokens has no token for {{ node_id }}: the salt master
        derives them from its join secret and could not read or create it (its log says
        why: "cannot read or create the join secret"); fix that, then re-run
{%- endif %}
{%- endfor %}
{%- for node in membership.stale %}

microk8s-master-removed-{{ node }}:
  microk8s.node_removed:
    - name: {{ node | json }}
    - require:
      - microk8s: microk8s-base-running
{%- endfor %}
