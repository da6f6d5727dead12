{%- from "map.jinja" import kubesalt with context %}
{%- set microk8s = kubesalt.microk8s %}
{%- set tokens = microk8s.get('join_tokens', {}) %}
{%- set membership = salt['cluster.membership'](kubesalt) %}
{#- A control plane in the cluster registers the join token of every node not in the
    cluster yet, with a TTL, so a node can join through any control plane (the state reads
    each token from this node's pillar: no token is rendered here). Included by
    microk8s.master and, for the other control planes, microk8s.joined; each of them defines
    microk8s-tokens-after, what the registrations wait for. #}
{%- for node_id in membership.pending %}
{%- if node_id in tokens %}

{{ ('microk8s-master-token-' ~ node_id) | json }}:
  microk8s.token_registered:
    - name: {{ node_id | json }}
    - token_pillar: {{ ('kubesalt:microk8s:join_tokens:' ~ node_id) | json }}
    - ttl: {{ microk8s.token_ttl | json }}
    - require:
      - test: microk8s-tokens-after
{%- else %}

{{ ('microk8s-master-token-' ~ node_id) | json }}:
  test.fail_without_changes:
    - comment: >-
        pillar kubesalt:microk8s:join_tokens has no token for {{ node_id }}: the salt master
        derives them from its join secret and could not read or create it (its log says
        why: "cannot read or create the join secret"); fix that, then re-run
{%- endif %}
{%- endfor %}
