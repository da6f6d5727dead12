{%- from "map.jinja" import kubesalt with context %}
{%- if kubesalt.minion.manage_service %}

core-minion-service:
  service.running:
    - name: {{ kubesalt.minion.service | json }}
    - enable: True
{%- endif %}
