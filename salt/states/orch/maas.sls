{#-
  salt-run state.orchestrate orch.maas

  MAAS in order: the database hosts (maas_db); the regions one at a time (parallel inits
  race on migrations), the first one initialising the schema; the racks (maas_rack) with
  the region's shared secret, each verified through the region's API; then, on the first
  region, selections, import and the wait for images; finally the admin's API key as a
  Kubernetes secret on the first MicroK8s control plane.

  The shared secret and the API key are read from the first region at render time unless
  the pillar holds them (maas:rack:secret, maas:api_key). Passed as pillar to the target
  minions they are stored in the master's job cache: keep that cache short-lived
  (keep_jobs_seconds) or set them in an encrypted pillar instead.
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
    - tgt: {{ dbs | join(',') }}
    - tgt_type: list
    - sls: maas.db
{%- endif %}
{%- for region in regions %}

maas-orch-region-{{ loop.index }}:
  salt.state:
    - tgt: {{ region }}
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
{%- set first_region = regions[0] %}
{%- if racks %}
{%- set secret = salt['pillar.get']('maas:rack:secret') %}
{%- if not secret %}
{%- set secret = salt['saltutil.cmd'](first_region, 'maas.shared_secret', arg=[True]).get(first_region, {}).get('ret', '') %}
{%- endif %}
{%- set rack_pillar = dict(maas=dict(rack=dict(secret=secret))) %}

maas-orch-racks:
  salt.state:
    - tgt: {{ racks | join(',') }}
    - tgt_type: list
    - sls: maas.rack
    - pillar: {{ rack_pillar | json }}
    - require:
      - salt: maas-orch-region-{{ regions | length }}
{%- endif %}

maas-orch-sync:
  salt.state:
    - tgt: {{ first_region }}
    - sls: maas.sync
    - require:
      - salt: maas-orch-region-{{ regions | length }}
{%- if racks %}
      - salt: maas-orch-racks
{%- endif %}
{%- if control_planes %}
{%- set api_key = salt['pillar.get']('maas:api_key') %}
{%- if not api_key %}
{%- set api_key = salt['saltutil.cmd'](first_region, 'maas.api_key_value').get(first_region, {}).get('ret', '') %}
{%- endif %}
{%- set key_pillar = dict(maas=dict(api_key=api_key)) %}

maas-orch-apikey:
  salt.state:
    - tgt: {{ control_planes[0] }}
    - sls: maas.apikey
    - pillar: {{ key_pillar | json }}
    - require:
      - salt: maas-orch-sync
{%- endif %}
{%- endif %}
