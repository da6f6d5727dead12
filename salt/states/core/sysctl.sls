{%- from "map.jinja" import kubesalt with context %}
{#- Settings with a null value are left alone (the lab nulls the ones that are global). #}
{%- for setting, value in kubesalt.sysctl | dictsort %}
{%- if value is not none %}

{{ ('core-sysctl-' ~ setting) | json }}:
  sysctl.present:
    - name: {{ setting | json }}
    - value: {{ value | json }}
    - config: /etc/sysctl.d/90-kubesalt.conf
{%- endif %}
{%- endfor %}

core-sysctl-limits-nofile:
  file.managed:
    - name: /etc/security/limits.d/90-kubesalt.conf
    - source: salt://core/files/limits.conf.jinja
    - template: jinja
    - user: root
    - group: root
    - mode: '0644'
    - makedirs: True
    - context:
        nofile: {{ kubesalt.limits.nofile | json }}
