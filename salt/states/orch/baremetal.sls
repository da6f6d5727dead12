{#-
  salt-run state.orchestrate orch.baremetal [pillar=JSON of kubesalt:baremetal, docs/maas.md]

  Machines MAAS deploys become MicroK8s workers:
  1. the master records the machines (kubesalt:baremetal:machines: minion id -> MAAS machine
     and private address), generates each one's minion key pair and accepts its public key
     in advance, and renders its user-data with terraform/modules/cloudinit (runner
     maas_baremetal.prepare; nothing returned or logged is secret);
  2. every minion of the inventory compiles a fresh pillar (the machines are in the
     inventory now; one that does not answer fails the run); the first MAAS region's
     carries the user-data, and MAAS deploys each machine with it (maas.baremetal:
     maas.machine_deployed, user_data_pillar);
  3. the master waits (bounded) until every machine's minion answers, and refreshes their
     pillar (a machine deployed by an earlier run has an older one);
  4. orch.cluster joins them as workers, the normal path.
  A step that fails stops the run with its message; running it again converges.
  Rendered on the master: the machines come from the orchestration's pillar, else from
  what the last run recorded (pillar/baremetal.sls).
-#}
{%- set baremetal = salt['pillar.get']('kubesalt:baremetal', {}) %}
{%- set machines = baremetal.get('machines', {}) %}
{%- set nodes = salt['pillar.get']('kubesalt:nodes', {}) %}
{%- set regions = [] %}
{#- The inventory's minions: the machines are in kubesalt:nodes already when an earlier run
    recorded them (pillar/baremetal.sls), and go out here. #}
{%- set inventory = [] %}
{%- for node_id, node in nodes | dictsort %}
{%- if 'maas_region' in node.get('roles', []) %}{% do regions.append(node_id) %}{% endif %}
{%- if node_id not in machines %}{% do inventory.append(node_id) %}{% endif %}
{%- endfor %}
{%- if not machines %}

baremetal-machines:
  test.fail_without_changes:
    - comment: "pillar kubesalt:baremetal:machines is empty: give minion id -> machine, private_ip"
{%- elif not regions %}

baremetal-machines:
  test.fail_without_changes:
    - comment: "the inventory has no maas_region node: MAAS deploys the bare-metal machines"
{%- else %}

baremetal-prepare:
  salt.runner:
    - name: maas_baremetal.prepare
    - machines: {{ machines | json }}
    - cloudinit: {{ baremetal.get('cloudinit', {}) | json }}

# Every minion's inventory changed (the machines are workers now: mine permissions, join
# tokens); the first region's pillar also carries the user-data now. The inventory's minions
# (the master's own among them) must all answer: '*' would also take the machines, whose
# keys are accepted before MAAS deploys them (they cannot answer yet), and, with Salt's
# default expect_minions False, a minion that never answered passed unnoticed; here it fails
# the step, named in its comment. The machines compile their pillar when their minion
# starts; one running since an earlier run is refreshed once all of them answer, below.
baremetal-pillar:
  salt.function:
    - name: saltutil.refresh_pillar
    - tgt: {{ inventory | join(',') | json }}
    - tgt_type: list
    - expect_minions: True
    - kwarg:
        wait: true
    - require:
      - salt: baremetal-prepare

baremetal-deployed:
  salt.state:
    - tgt: {{ regions[0] | json }}
    - sls:
      - maas.baremetal
    - require:
      - salt: baremetal-pillar

baremetal-minions:
  salt.runner:
    - name: maas_baremetal.wait_minions
    - minions: {{ machines | list | sort | json }}
    - timeout: {{ baremetal.get('minion_timeout', 600) | json }}
    - require:
      - salt: baremetal-deployed

baremetal-machines-pillar:
  salt.function:
    - name: saltutil.refresh_pillar
    - tgt: {{ machines | list | sort | join(',') | json }}
    - tgt_type: list
    - expect_minions: True
    - kwarg:
        wait: true
    - require:
      - salt: baremetal-minions

baremetal-cluster:
  salt.runner:
    - name: state.orchestrate
    - mods: orch.cluster
    - require:
      - salt: baremetal-machines-pillar
{%- endif %}
