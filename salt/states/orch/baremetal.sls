{#-
  salt-run state.orchestrate orch.baremetal [pillar=JSON of kubesalt:baremetal, docs/maas.md]

  Machines MAAS deploys become MicroK8s workers:
  1. the master records the machines (kubesalt:baremetal:machines: minion id -> MAAS machine
     and private address), generates each one's minion key pair and accepts its public key
     in advance, and renders its user-data with terraform/modules/cloudinit (runner
     maas_baremetal.prepare; nothing returned or logged is secret);
  2. every minion compiles a fresh pillar (the machines are in the inventory now); the first
     MAAS region's carries the user-data, and MAAS deploys each machine with it (maas.baremetal: maas.machine_deployed, user_data_pillar);
  3. the master waits (bounded) until every machine's minion answers;
  4. orch.cluster joins them as workers, the normal path.
  A step that fails stops the run with its message; running it again converges.
  Rendered on the master: the machines come from the orchestration's pillar, else from
  what the last run recorded (pillar/baremetal.sls).
-#}
{%- set baremetal = salt['pillar.get']('kubesalt:baremetal', {}) %}
{%- set machines = baremetal.get('machines', {}) %}
{%- set nodes = salt['pillar.get']('kubesalt:nodes', {}) %}
{%- set regions = [] %}
{%- for node_id, node in nodes | dictsort %}
{%- if 'maas_region' in node.get('roles', []) %}{% do regions.append(node_id) %}{% endif %}
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
# tokens); the first region's pillar also carries the user-data now.
baremetal-pillar:
  salt.function:
    - name: saltutil.refresh_pillar
    - tgt: '*'
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

baremetal-cluster:
  salt.runner:
    - name: state.orchestrate
    - mods: orch.cluster
    - require:
      - salt: baremetal-minions
{%- endif %}
