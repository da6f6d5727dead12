{%- from "map.jinja" import kubesalt with context %}
{%- set plan = salt['cluster.join_plan'](kubesalt) %}
{%- set has_token = kubesalt.microk8s.get('join_token') is not none %}
{#- A control plane after the first, or a worker: joins through the control planes in turn
    (the bootstrap one first), with its own token (read from its own pillar by the state,
    never rendered here) and the join address and certificate fingerprint each control
    plane published in the mine. A control plane, once in the cluster, registers the
    tokens of the nodes still to come (microk8s.tokens), so they can join through it. #}
include:
  - microk8s.base
{%- if plan.role == 'control-plane' %}
  - microk8s.tokens

microk8s-tokens-after:
  test.nop:
    - require:
      - {{ 'microk8s' if plan.addresses and has_token else 'test' }}: microk8s-joined-cluster
{%- endif %}
{%- if plan.addresses and has_token %}
{%- if plan.after %}

# dqlite adds one voter at a time: wait (bounded) until the control planes before this one
# in the inventory are members, as they publish in the mine.
microk8s-joined-turn:
  cluster.join_turn:
    - name: {{ grains['id'] | json }}
    - after: {{ plan.after | json }}
    - timeout: {{ kubesalt.microk8s.join_turn_timeout | json }}
    - require:
      - microk8s: microk8s-base-running
    - require_in:
      - microk8s: microk8s-joined-cluster
{%- endif %}

microk8s-joined-cluster:
  microk8s.cluster_joined:
    - name: {{ plan.addresses | join(',') | json }}
    - token_pillar: kubesalt:microk8s:join_token
    - worker: {{ (plan.role == 'worker') | json }}
    - fingerprint: {{ plan.fingerprint | json }}
    - require:
      - microk8s: microk8s-base-running
{%- if plan.role == 'control-plane' %}

# The control planes after this one wait for this to show in the mine.
microk8s-joined-mine-update:
  module.run:
    - mine.update: []
    - onchanges:
      - microk8s: microk8s-joined-cluster
{%- endif %}
{%- elif not has_token %}

microk8s-joined-cluster:
  test.fail_without_changes:
    - comment: >-
        pillar kubesalt:microk8s:join_token is missing for {{ grains['id'] }}: it must be
        listed in kubesalt:microk8s:control_planes or workers, and the salt master must be
        able to read or create its join secret (its log says why it could not)
{%- else %}

microk8s-joined-cluster:
  test.fail_without_changes:
    - comment: >-
        the join address of {{ plan.waiting_for | join(', ') }} is not in the mine yet:
        apply microk8s.master there first (or run mine.update on it), then re-run
{%- endif %}
