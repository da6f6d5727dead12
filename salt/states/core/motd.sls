{%- from "map.jinja" import kubesalt with context %}
{%- set node = kubesalt.nodes.get(grains['id'], {}) %}

{#- Shown before login: the banner only, no host name, OS or kernel (no getty escapes). #}
{%- for issue_file in ['/etc/issue', '/etc/issue.net'] %}

core-motd-{{ issue_file }}:
  file.managed:
    - name: {{ issue_file }}
    - source: salt://core/files/issue.jinja
    - template: jinja
    - user: root
    - group: root
    - mode: '0644'
    - context:
        banner: {{ kubesalt.motd.issue | json }}
{%- endfor %}

core-motd-/etc/motd:
  file.managed:
    - name: /etc/motd
    - source: salt://core/files/motd.jinja
    - template: jinja
    - user: root
    - group: root
    - mode: '0644'
    - context:
        message: {{ kubesalt.motd.message | json }}
        minion_id: {{ grains['id'] | json }}
        roles: {{ node.get('roles', []) | json }}

# The distribution's dynamic motd (uname, news, ...) is turned off: run-parts skips
# scripts that are not executable.
core-motd-update-motd-off:
  file.directory:
    - name: /etc/update-motd.d
    - user: root
    - group: root
    - dir_mode: '0755'
    - file_mode: '0644'
    - recurse:
      - mode
