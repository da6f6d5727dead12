{%- from "map.jinja" import kubesalt with context %}
{#- Files declared in pillar: `source` (salt://...) or inline `contents`. A file marked
    `secret` (or with a mode that others cannot read) never shows a diff. #}
{%- for path, spec in kubesalt.files | dictsort %}
{%- set mode = spec.get('mode', '0600' if spec.get('secret') else '0644') %}

core-file-transfer-{{ path }}:
  file.managed:
    - name: {{ path }}
    - source: {{ spec.get('source') | json }}
    - contents: {{ spec.get('contents') | json }}
    - user: {{ spec.get('user', 'root') }}
    - group: {{ spec.get('group', 'root') }}
    - mode: '{{ mode }}'
    - makedirs: True
    - show_changes: {{ not (spec.get('secret') or mode.endswith('0')) }}
{%- endfor %}
