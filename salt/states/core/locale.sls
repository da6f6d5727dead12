{%- from "map.jinja" import kubesalt with context %}

core-locale-default:
  file.managed:
    - name: /etc/default/locale
    - user: root
    - group: root
    - mode: '0644'
    - contents: {{ ('# Managed by Salt (kubesalt core.locale).\nLANG=' ~ kubesalt.locale ~ '\n') | json }}
