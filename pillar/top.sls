{#-
  The layered pillar. Layers are merged in this order, a later layer overriding an earlier
  one (dicts merge recursively, lists and scalars are replaced):

    _from_terraform                 the inventory, written by Terraform (never by hand)
    baremetal                       the machines MAAS deploys (orch.baremetal) as workers
    environments.defaults           every environment
    environments.<domain>           this environment; dots of the domain become '_'
    minions.defaults.<host>         this host name, whatever the environment
    minions.<domain>.<host>         this host in this environment
    cluster                         mine functions and join tokens, derived on the master
    maas                            the MAAS shared secret and API key the first region
                                    handed to the master, for racks and the control plane

  A missing layer is skipped (ignore_missing). Pillar SLS names are fnmatch patterns, so
  the id-derived layers are only listed for an id made of lowercase DNS labels: an id with
  '*', '?' or '[' would otherwise read the files of other hosts. The same pattern lives in
  salt/_utils/cluster_lib/validate.py (held equal by tests/unit/utils/cluster_lib/test_cluster_lib.py),
  which makes the state run fail for such an id.
-#}
{%- set minion_id = opts['id'] %}
{%- set id_ok = minion_id is string and minion_id | length <= 253
      and minion_id | regex_match('^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?([.][a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*)$') %}
{%- set host, _dot, domain = minion_id.partition('.') %}
{%- set domain_sls = domain | replace('.', '_') %}
base:
  '*':
    - ignore_missing: True
    - _from_terraform
    - baremetal
    - environments.defaults
{%- if id_ok %}
  '{{ minion_id }}':
    - match: list
    - ignore_missing: True
{%- if domain %}
    - environments.{{ domain_sls }}
{%- endif %}
    - minions.defaults.{{ host }}
{%- if domain %}
    - minions.{{ domain_sls }}.{{ host }}
{%- endif %}
    - cluster
    - maas
{%- endif %}
