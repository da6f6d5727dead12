{#-
  Rendered on the master for the requesting minion (opts['id']).

  - mine_functions: what each node publishes. Only non-secrets (private addresses, the
    control planes' join address and agent certificate fingerprint), and only cluster
    members may read them back (allow_tgt on the inventory's minion ids, never grains).
  - join tokens: HMAC-SHA256 of the node's minion id keyed with a secret file only the
    master holds (created by the salt_master state, mode 0600). A node's pillar carries
    its own token; the bootstrap control plane's carries every node's, to register them.
-#}
{%- set raw_inventory %}{% include '_from_terraform.sls' ignore missing %}{% endset %}
{%- set inventory = ((raw_inventory | load_yaml) or {}).get('kubesalt', {}) %}
{%- set nodes = inventory.get('nodes', {}) %}
{%- set private_cidr = inventory.get('networks', {}).get('private_cidr') %}
{%- set control_planes = inventory.get('microk8s', {}).get('control_planes', []) %}
{%- set workers = inventory.get('microk8s', {}).get('workers', []) %}
{%- set microk8s_nodes = control_planes + workers %}
{%- set minion_id = opts['id'] %}
{%- set secret_file = opts.get('kubesalt_join_secret_file', '/etc/salt/kubesalt/join.secret') %}
{%- set secret = (salt['file.read'](secret_file) | trim) if salt['file.file_exists'](secret_file) else '' %}
{%- if minion_id in nodes and private_cidr %}
mine_functions:
  kubesalt_private_ip:
    - mine_function: network.ip_addrs
    - cidr: {{ private_cidr }}
    - allow_tgt: {{ nodes | list | sort | json }}
    - allow_tgt_type: list
{%- if minion_id in control_planes %}
  microk8s_join_info:
    - mine_function: microk8s.join_info
    - address: {{ nodes[minion_id].get('private_ip') }}
    - allow_tgt: {{ microk8s_nodes | json }}
    - allow_tgt_type: list
{%- endif %}
{%- endif %}
{%- if secret and minion_id in microk8s_nodes %}
kubesalt:
  microk8s:
    join_token: {{ salt['hashutil.hmac_compute'](minion_id, secret)[:32] | json }}
{%- if minion_id == control_planes[0] %}
    join_tokens:
{%- for node_id in microk8s_nodes[1:] %}
      {{ node_id }}: {{ salt['hashutil.hmac_compute'](node_id, secret)[:32] | json }}
{%- endfor %}
{%- endif %}
{%- endif %}
