{#-
  States by role. Roles come from the inventory pillar (kubesalt:nodes:<id>:roles, written
  by Terraform into pillar/_from_terraform.sls), never from grains: a minion sets its own
  grains, the master compiles its pillar.
-#}
{%- set minion_id = grains['id'] %}
{%- set roles = salt['pillar.get']('kubesalt:nodes', {}).get(minion_id, {}).get('roles', []) %}
{%- set control_planes = salt['pillar.get']('kubesalt:microk8s:control_planes', []) %}
{%- set maas_regions = [] %}
{%- for node_id, node in salt['pillar.get']('kubesalt:nodes', {}) | dictsort %}
{%- if 'maas_region' in node.get('roles', []) %}{% do maas_regions.append(node_id) %}{% endif %}
{%- endfor %}
base:
  '*':
    - core
{%- if 'salt_master' in roles %}
    - salt_master
{%- endif %}
{%- if 'bastion' in roles %}
    - bastion
{%- endif %}
{%- if 'microk8s_control_plane' in roles and control_planes[:1] == [minion_id] %}
    - microk8s.master
{%- elif 'microk8s_control_plane' in roles or 'microk8s_worker' in roles %}
    - microk8s.joined
{%- endif %}
{%- if 'maas_db' in roles %}
    - maas.db
{%- endif %}
{%- if 'maas_region' in roles %}
    - maas
{%- endif %}
{%- if 'maas_rack' in roles %}
    - maas.rack
{%- endif %}
{%- if maas_regions and control_planes[:1] == [minion_id] %}
    - maas.apikey
{%- endif %}
