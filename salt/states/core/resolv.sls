{%- from "map.jinja" import kubesalt with context %}
{%- set search = kubesalt.resolv.search or ([kubesalt.domain] if kubesalt.domain else []) %}

core-resolv-conf:
  file.managed:
    - name: /etc/resolv.conf
    - source: salt://core/files/resolv.conf.jinja
    - template: jinja
    - follow_symlinks: False
    - user: root
    - group: root
    - mode: '0644'
    - context:
        nameservers: {{ kubesalt.resolv.nameservers | json }}
        search: {{ search | json }}
