{%- from "map.jinja" import kubesalt with context %}
{#- Files declared in pillar: `source` (salt://...) or inline `contents`. A file marked
    `secret` (or with a mode that others cannot read) never shows a diff. #}
{%- for path, spec in kubesalt.files | dictsort %}
{%- set mode = spec.get('mode', '0600' if spec.get('secret') else '0644') %}

{{ ('core-file-transfer-' ~ path) | json }}:
  file.managed:
    - name: {{ path | json }}
    - source: {{ spec.get('source') | json }}
    - contents: {{ spec.get('contents') | json }}
    - user: {{ spec.get('user', 'root') | json }}
    - group: {{ spec.get('group', 'root') | json }}
    - mode: {{ mode | json }}
    - makedirs: True
    - show_changes: {{ (not (spec.get('secret') or mode.endswith('0'))) | json }}
{%- endfor %}
