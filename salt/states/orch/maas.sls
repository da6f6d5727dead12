{#-
  salt-run state.orchestrate orch.maas

  MAAS in order. Phase 1: the database hosts (maas_db), then the regions one at a time
  (parallel inits race on migrations; the first one creates the schema). Phase 2, rendered
  only once phase 1 is done (a nested state.orchestrate of this file with
  pillar maas_orch_phase=join), because it reads what the first region created: the racks
  (maas_rack) register with the region's shared secret and are verified through the API;
  the first region gets its selections and waits for the images; the admin's API key goes
  into a Kubernetes secret on the first MicroK8s control plane.

  The shared secret and the API key come from the pillar (maas:rack:secret, maas:api_key)
  or are read from the first region. They reach the rack and control-plane minions as
  pillar of their state run, so the master's job cache holds them: keep it short-lived
  (keep_jobs_seconds) or put them in an encrypted pillar.
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
{%- if salt['pillar.get']('maas_orch_phase') != 'join' %}
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

maas-orch-join:
  salt.runner:
    - name: state.orchestrate
    - mods: orch.maas
    - pillar:
        maas_orch_phase: join
    - require:
      - salt: maas-orch-region-{{ regions | length }}
{%- endif %}
{%- elif regions %}
{%- set first_region = regions[0] %}
{%- set secret = salt['pillar.get']('maas:rack:secret') %}
{%- if racks and not secret %}
{%- set secret = salt['saltutil.cmd'](first_region, 'maas.shared_secret', arg=[True]).get(first_region, {}).get('ret', '') %}
{%- endif %}
{%- set api_key = salt['pillar.get']('maas:api_key') %}
{%- if (racks or control_planes) and not api_key %}
{%- set api_key = salt['saltutil.cmd'](first_region, 'maas.api_key_value').get(first_region, {}).get('ret', '') %}
{%- endif %}
{%- if racks %}
{%- set rack_pillar = dict(maas=dict(rack=dict(secret=secret), api_key=api_key)) %}

maas-orch-racks:
  salt.state:
    - tgt: {{ racks | join(',') | json }}
    - tgt_type: list
    - sls: maas.rack
    - pillar: {{ rack_pillar | json }}
{%- endif %}

maas-orch-sync:
  salt.state:
    - tgt: {{ first_region | json }}
    - sls: maas.sync
{%- if racks %}
    - require:
      - salt: maas-orch-racks
{%- endif %}
{%- if control_planes %}
{%- set key_pillar = dict(maas=dict(api_key=api_key)) %}

maas-orch-apikey:
  salt.state:
    - tgt: {{ control_planes[0] | json }}
    - sls: maas.apikey
    - pillar: {{ key_pillar | json }}
    - require:
      - salt: maas-orch-sync
{%- endif %}
{%- endif %}
