{#-
  salt-run state.orchestrate orch.upgrade            (test=True shows the plan)

  A rolling MicroK8s upgrade to kubesalt:microk8s:channel: the control planes one at a time,
  then the workers in batches of kubesalt:microk8s:upgrade:batch_size. For each batch: drain
  every node (PodDisruptionBudgets respected: a refused eviction is retried until
  drain_timeout), refresh the snap on those nodes (state microk8s.upgraded), wait until each
  is Ready at the new version with the dqlite voters back (node_timeout), uncordon. Every
  step requires the one before: the first failure stops the run, names the node and why, and
  leaves the nodes not reached untouched. The plan is read from the cluster when this renders,
  so a rerun resumes (nodes already at the target are left out; a node still cordoned is
  finished). A skipped minor or a downgrade is refused before anything changes.
-#}
{%- import_yaml "defaults.yaml" as defaults %}
{%- set microk8s = salt['slsutil.merge'](defaults.kubesalt.microk8s, salt['pillar.get']('kubesalt:microk8s', {}), merge_lists=False) %}
{%- set plan_args = [microk8s.channel, microk8s.control_planes, microk8s.workers] %}
{%- set plan = salt['saltutil.runner']('microk8s_upgrade.plan', arg=plan_args, kwarg={'upgrade': microk8s.get('upgrade')}) %}
{%- if plan.get('error') %}

upgrade-refused:
  test.fail_without_changes:
    - name: {{ plan.error | json }}
{%- else %}
{%- set settings = plan.settings %}
{%- set order = plan.batches | map('map', attribute='node') | map('join', ' + ') | join(', then ') %}
{%- set already = ' (already there: ' ~ plan.current | join(', ') ~ ')' if plan.current else '' %}

upgrade-plan:
  test.succeed_without_changes:
    - name: {{ ('to ' ~ plan.target ~ ': ' ~ (order or 'nothing to do') ~ already) | json }}
{%- set previous = namespace(step='upgrade-plan') %}
{%- for batch in plan.batches %}
{%- set ids = batch | map(attribute='id') | list %}
{%- for node in batch %}

{{ ('upgrade-drain-' ~ node.id) | json }}:
  salt.function:
    - name: microk8s.drain
    - tgt: {{ plan.helper[node.id] | json }}
    - tgt_type: list
    - arg:
      - {{ node.node | json }}
    - kwarg:
        timeout: {{ settings.drain_timeout | json }}
    - timeout: {{ (settings.drain_timeout + 120) | json }}
    - require:
      - test: {{ previous.step | json }}
{%- endfor %}

{{ ('upgrade-refresh-' ~ ids | join('+')) | json }}:
  salt.state:
    - tgt: {{ ids | join(',') | json }}
    - tgt_type: list
    - sls:
      - microk8s.upgraded
    - require:
{%- for node in batch %}
      - salt: {{ ('upgrade-drain-' ~ node.id) | json }}
{%- endfor %}
{%- for node in batch %}

{{ ('upgrade-wait-' ~ node.id) | json }}:
  salt.function:
    - name: microk8s.wait_node
    - tgt: {{ plan.helper[node.id] | json }}
    - tgt_type: list
    - arg:
      - {{ node.node | json }}
    - kwarg:
        version: {{ plan.target | json }}
        voters: {{ (plan.voters if node.role == 'control-plane' else 0) | json }}
        timeout: {{ settings.node_timeout | json }}
    - timeout: {{ (settings.node_timeout + 120) | json }}
    - require:
      - salt: {{ ('upgrade-refresh-' ~ ids | join('+')) | json }}

{{ ('upgrade-uncordon-' ~ node.id) | json }}:
  salt.function:
    - name: microk8s.uncordon
    - tgt: {{ plan.helper[node.id] | json }}
    - tgt_type: list
    - arg:
      - {{ node.node | json }}
    - require:
      - salt: {{ ('upgrade-wait-' ~ node.id) | json }}
{%- endfor %}

upgrade-batch-{{ loop.index }}-done:
  test.succeed_without_changes:
    - name: {{ ('upgraded ' ~ ids | join(', ')) | json }}
    - require:
{%- for node in batch %}
      - salt: {{ ('upgrade-uncordon-' ~ node.id) | json }}
{%- endfor %}
{%- set previous.step = 'upgrade-batch-' ~ loop.index ~ '-done' %}
{%- endfor %}
{%- endif %}
