{#-
  salt-run state.orchestrate orch.maas

  MAAS in order, the faster path to what a plain `salt '*' state.highstate` converges to in
  two runs: the database hosts (maas_db), the regions one at a time (parallel inits race on
  migrations; the first one creates the schema, then hands its shared secret and the
  admin's API key to the master), the racks (maas_rack: registered with the region and
  verified through its API), the first region's selections and images, and the API key as
  a Kubernetes secret on the first MicroK8s control plane.

  Every step is a state run whose minion compiles its pillar on the master when the step
  starts: the racks and the control plane get the shared secret and the API key there
  (pillar/maas.sls), never from this file, the orchestration's pillar or a job return.
-#}
{%- set nodes = salt['pillar.get']('kubesalt:nodes', {}) %}
{%- set dbs = [] %}
{%- set regions = [] %}
{%- set racks = [] %}
{%- for node_id, node in nodes | dictsort %}
{%- if 'maas_db' in node.get('roles', []) %}{% do dbs.append(node_id) %}{% endif %}
{%- if 'maas_region' in node.get('roles', []) %}{% do regions.append(node_id) %}{% endif %}
{%- if 'maas_rack' in node.get('roles', []) %}{% do racks.append(node_id) %}{% endif %}
{%- endfor %}
{%- set control_planes = salt['pillar.get']('kubesalt:microk8s:control_planes', []) %}
{%- if dbs %}

maas-orch-db:
  salt.state:
    - tgt: {{ dbs | join(',') | json }}
    - tgt_type: list
    - sls: maas.db
{%- endif %}
{%- for region in regions %}

maas-orch-region-{{ loop.index }}:
  salt.state:
    - tgt: {{ region | json }}
    - sls: maas.region
{%- if dbs or not loop.first %}
    - require:
{%- if dbs %}
      - salt: maas-orch-db
{%- endif %}
{%- if not loop.first %}
      - salt: maas-orch-region-{{ loop.index - 1 }}
{%- endif %}
{%- endif %}
{%- endfor %}
{%- if regions %}
{%- if racks %}

maas-orch-racks:
  salt.state:
    - tgt: {{ racks | join(',') | json }}
    - tgt_type: list
    - sls: maas.rack
    - require:
      - salt: maas-orch-region-{{ regions | length }}
{%- endif %}

maas-orch-sync:
  salt.state:
    - tgt: {{ regions[0] | json }}
    - sls: maas.sync
    - require:
      - salt: maas-orch-region-{{ regions | length }}
{%- if racks %}
      - salt: maas-orch-racks
{%- endif %}
{%- if control_planes %}

maas-orch-apikey:
  salt.state:
    - tgt: {{ control_planes[0] | json }}
    - sls: maas.apikey
    - require:
      - salt: maas-orch-sync
{%- endif %}
{%- endif %}
