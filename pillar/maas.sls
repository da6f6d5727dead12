{#-
  Rendered on the master for the requesting minion (opts['id']): how the MAAS shared secret
  and the admin's API key reach the hosts that need them, never through the mine, an SLS
  file, an orchestration's pillar or a job return (docs/maas.md, "Secrets").

  - The first MAAS region (the first inventory node with role maas_region) pushes them to
    the master (state maas.handoff_pushed: cp.push, one way, over its encrypted channel).
    Salt writes pushed files world-readable into <cachedir>/minions/<id>/files/, so this
    layer first makes the drop directory kubesalt/ there mode 0700 and the hand-off file in
    it 0600, empty, before the first push (created by the master process itself, so owned
    by the master's user; Salt rewrites an existing file in place, keeping its mode).
    The region's pillar carries the digest of the copy the master holds, so it pushes only
    when the secret or the key changed.
  - Rack controllers (role maas_rack) get the shared secret and the API key, the first
    MicroK8s control plane gets the API key (for maas.apikey), as kubesalt:maas:* pillar.

  Only the master does this (opts['__role'] == 'master'): a masterless minion rendering
  this file gets nothing from it.
-#}
{%- set raw_inventory %}{% include '_from_terraform.sls' ignore missing %}{% endset %}
{%- set inventory = ((raw_inventory | load_yaml) or {}).get('kubesalt', {}) %}
{%- set nodes = inventory.get('nodes', {}) %}
{%- set regions = [] %}
{%- for node_id, node in nodes | dictsort %}
{%- if 'maas_region' in node.get('roles', []) %}{% do regions.append(node_id) %}{% endif %}
{%- endfor %}
{%- set minion_id = opts['id'] %}
{%- set control_planes = inventory.get('microk8s', {}).get('control_planes', []) %}
{%- if regions and opts.get('__role') == 'master' and minion_id in nodes %}
{%- set upload_path = 'kubesalt/maas-handoff.json' %}
{%- set drop_dir = [opts['cachedir'], 'minions', regions[0], 'files', 'kubesalt'] | join('/') %}
{%- set handoff_file = drop_dir ~ '/maas-handoff.json' %}
{%- set is_rack = 'maas_rack' in nodes[minion_id].get('roles', []) %}
{%- set is_key_holder = control_planes[:1] == [minion_id] %}
{%- if minion_id == regions[0] %}
{#- An empty file 0600 before the first push: Salt rewrites an existing file in place, so
    the secrets never sit in a world-readable file, even inside the 0700 directory. #}
{%- do salt['file.mkdir'](drop_dir, mode='0700') %}
{%- do salt['file.set_mode'](drop_dir, '0700') %}
{%- if not salt['file.file_exists'](handoff_file) %}
{%- do salt['file.touch'](handoff_file) %}
{%- endif %}
{%- endif %}
{%- set content = salt['file.read'](handoff_file) if salt['file.file_exists'](handoff_file) else '' %}
{%- set out = {} %}
{%- if minion_id == regions[0] %}
{%- do salt['file.set_mode'](handoff_file, '0600') %}
{%- set fingerprint = salt['hashutil.digest'](content, 'sha256') if content else '' %}
{%- set handoff_entry = {'path': upload_path, 'fingerprint': fingerprint} %}
{%- do out.update({'handoff': handoff_entry}) %}
{%- endif %}
{%- if content and (is_rack or is_key_holder) %}
{%- set handoff = content | load_json %}
{%- do out.update({'api_key': handoff.get('api_key', '')}) %}
{%- if is_rack %}
{%- do out.update({'shared_secret': handoff.get('shared_secret', '')}) %}
{%- endif %}
{%- endif %}
{%- if out %}
kubesalt:
  maas: {{ out | json }}
{%- endif %}
{%- endif %}
