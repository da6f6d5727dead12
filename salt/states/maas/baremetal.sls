{#-
  Applied by orch.baremetal on the first MAAS region: MAAS deploys every bare-metal machine
  of kubesalt:baremetal:machines (pillar/baremetal.sls) with its user-data, read by the
  state from this minion's own pillar (user_data_pillar): the user-data holds the machine's
  minion private key and is never rendered here. Waits (bounded) until each is Deployed.
-#}
{%- set machines = salt['pillar.get']('kubesalt:baremetal:machines', {}) %}
{%- set distro_series = salt['pillar.get']('kubesalt:baremetal:distro_series', none) %}
{%- set timeout = salt['pillar.get']('kubesalt:baremetal:deploy_timeout', 1800) %}
{%- for minion_id, machine in machines | dictsort %}

{{ ('maas-baremetal-deployed-' ~ minion_id) | json }}:
  maas.machine_deployed:
    - name: {{ machine.machine | json }}
    - distro_series: {{ distro_series | json }}
    - user_data_pillar: {{ ('maas_baremetal:user_data:' ~ minion_id) | json }}
    - timeout: {{ timeout | json }}
{%- endfor %}
