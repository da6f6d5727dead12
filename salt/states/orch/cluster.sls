{#-
  salt-run state.orchestrate orch.cluster

  The roll-out in order: the salt master; the bastion; every MicroK8s node's base in
  parallel; the bootstrap control plane (addons, join tokens, removals); the other control
  planes one at a time; the workers (in parallel). Nodes that left the inventory but still
  publish in the mine leave the cluster first (if they answer) and lose their mine data.
  Rendered on the master: the inventory is the master's own pillar (_from_terraform).
-#}
{%- set nodes = salt['pillar.get']('kubesalt:nodes', {}) %}
{%- set control_planes = salt['pillar.get']('kubesalt:microk8s:control_planes', []) %}
{%- set workers = salt['pillar.get']('kubesalt:microk8s:workers', []) %}
{%- set masters = [] %}
{%- set bastions = [] %}
{%- for node_id, node in nodes | dictsort %}
{%- if 'salt_master' in node.get('roles', []) %}{% do masters.append(node_id) %}{% endif %}
{%- if 'bastion' in node.get('roles', []) %}{% do bastions.append(node_id) %}{% endif %}
{%- endfor %}
{#- Who published in the mine: the master's cached mine data (cache.mine), not mine.get,
    which applies each entry's allow_tgt to the requester, here the master itself, and so
    returns nothing (a removed node would never leave). Only the minion ids are used. #}
{%- set cached_mine = salt['saltutil.runner']('cache.mine', tgt='*') or {} %}
{%- set published = [] %}
{%- for minion_id, functions in cached_mine | dictsort %}
{%- if functions is mapping and 'kubesalt_private_ip' in functions %}{% do published.append(minion_id) %}{% endif %}
{%- endfor %}
{%- set removed = published | reject('in', nodes) | sort %}
{%- set reachable = salt['saltutil.runner']('manage.up', tgt=removed | join(','), tgt_type='list') if removed else [] %}
{#- Nothing to do? One test-mode highstate of every node this orchestration manages, all at
    once, while rendering: when every one of them returns, with no predicted change and no
    failure, and no node left the inventory, the roll-out is skipped (one check per node
    instead of seven stages one after the other). #}
{%- set managed = (masters + bastions + control_planes + workers) | unique | list %}
{%- set preview_job = {'tgt': managed | join(','), 'tgt_type': 'list', 'fun': 'state.highstate',
                       'kwarg': {'test': True}, 'timeout': 300} %}
{#- The bootstrap runner's first run (nothing ever converged: pillar kubesalt_bootstrap:first_run)
    skips the preview: fresh nodes have everything to do, and the check would cost a
    test-mode highstate of every node before the roll-out. #}
{%- set first_run = salt['pillar.get']('kubesalt_bootstrap:first_run', False) is sameas true %}
{%- set preview = salt['saltutil.runner']('salt.execute', kwarg=preview_job) if managed and not removed and not first_run else {} %}
{%- set converged = [] %}
{%- for node_id in managed %}
{%- set ret = preview.get(node_id) if preview is mapping else none %}
{%- if ret is mapping and ret and not (ret.values() | rejectattr('result', 'sameas', true) | list) and not (ret.values() | selectattr('changes') | list) %}
{%- do converged.append(node_id) %}
{%- endif %}
{%- endfor %}
{%- if managed and converged | length == managed | length %}

cluster-converged:
  test.succeed_without_changes:
    - name: {{ ('every node converged (test-mode highstate on ' ~ managed | length ~ ' nodes): nothing to do') | json }}
{%- else %}
{%- if masters %}

# A changed configuration restarts the master only once it is idle (after this
# orchestration and whatever follows it at once): see salt_master's
# salt-master-restart-when-idle.
cluster-salt-master:
  salt.state:
    - tgt: {{ masters | join(',') | json }}
    - tgt_type: list
    - highstate: True
{%- endif %}
{%- if bastions %}

cluster-bastion:
  salt.state:
    - tgt: {{ bastions | join(',') | json }}
    - tgt_type: list
    - highstate: True
{%- if masters %}
    - require:
      - salt: cluster-salt-master
{%- endif %}
{%- endif %}
{%- for node_id in removed %}
{%- if node_id in reachable %}

{{ ('cluster-leave-' ~ node_id) | json }}:
  salt.function:
    - name: microk8s.leave
    - tgt: {{ node_id | json }}
    - tgt_type: list
    - require_in:
      - salt: {{ ('cluster-mine-forget-' ~ node_id) | json }}
{%- endif %}

{{ ('cluster-mine-forget-' ~ node_id) | json }}:
  salt.runner:
    - name: cache.clear_mine
    - tgt: {{ node_id | json }}
    - tgt_type: list
{%- endfor %}
{%- if control_planes %}

cluster-microk8s-base:
  salt.state:
    - tgt: {{ (control_planes + workers) | join(',') | json }}
    - tgt_type: list
    - sls:
      - core
      - microk8s.base
{%- if bastions %}
    - require:
      - salt: cluster-bastion
{%- endif %}

cluster-mine-update:
  salt.function:
    - name: mine.update
    - tgt: {{ (control_planes + workers) | join(',') | json }}
    - tgt_type: list
    - require:
      - salt: cluster-microk8s-base

{{ ('cluster-control-plane-' ~ control_planes[0]) | json }}:
  salt.state:
    - tgt: {{ control_planes[0] | json }}
    - tgt_type: list
    - sls:
      - microk8s.master
    - require:
      - salt: cluster-mine-update

{{ ('cluster-join-info-' ~ control_planes[0]) | json }}:
  salt.function:
    - name: mine.update
    - tgt: {{ control_planes[0] | json }}
    - tgt_type: list
    - require:
      - salt: {{ ('cluster-control-plane-' ~ control_planes[0]) | json }}
{%- for node_id in control_planes[1:] %}

# Control planes join one at a time: dqlite adds one voter at a time.
{{ ('cluster-control-plane-' ~ node_id) | json }}:
  salt.state:
    - tgt: {{ node_id | json }}
    - tgt_type: list
    - sls:
      - microk8s.joined
    - require:
      - salt: {{ ('cluster-join-info-' ~ control_planes[0] if loop.first else 'cluster-control-plane-' ~ loop.previtem) | json }}
{%- endfor %}
{%- if workers %}

cluster-workers:
  salt.state:
    - tgt: {{ workers | join(',') | json }}
    - tgt_type: list
    - sls:
      - microk8s.joined
    - require:
      - salt: {{ ('cluster-control-plane-' ~ control_planes[-1] if control_planes | length > 1 else 'cluster-join-info-' ~ control_planes[0]) | json }}
{%- endif %}
{%- endif %}
{%- endif %}
