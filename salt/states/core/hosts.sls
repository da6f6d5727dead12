{%- from "map.jinja" import kubesalt with context %}
{#- Every inventory node by FQDN and short name, at the private address it published in
    the mine (the inventory's until it has). Other lines of /etc/hosts are left alone. #}
{%- for entry in salt['cluster.hosts'](kubesalt) %}

{{ ('core-hosts-' ~ entry.names[0]) | json }}:
  host.only:
    - name: {{ entry.ip | json }}
    - hostnames: {{ entry.names | json }}
{%- endfor %}
