{%- from "map.jinja" import kubesalt with context %}
{%- for name, user in kubesalt.users | dictsort %}
{%- if user.get('absent') %}

{{ ('core-users-' ~ name ~ '-absent') | json }}:
  user.absent:
    - name: {{ name | json }}

{{ ('core-users-' ~ name ~ '-sudoers-absent') | json }}:
  file.absent:
    - name: {{ ('/etc/sudoers.d/kubesalt-' ~ name) | json }}
{%- else %}

# Password '*': no password can ever match, SSH keys are the only way in.
{{ ('core-users-' ~ name ~ '-present') | json }}:
  user.present:
    - name: {{ name | json }}
    - shell: {{ user.get('shell', '/bin/bash') | json }}
    - createhome: True
    - password: '*'
    - optional_groups: {{ user.get('groups', []) | json }}
    - remove_groups: False

{{ ('core-users-' ~ name ~ '-ssh-keys') | json }}:
  ssh_auth.manage:
    - user: {{ name | json }}
    - ssh_keys: {{ user.ssh_keys | json }}
    - require:
      - user: {{ ('core-users-' ~ name ~ '-present') | json }}

{%- if user.get('sudo') %}

{{ ('core-users-' ~ name ~ '-sudoers') | json }}:
  file.managed:
    - name: {{ ('/etc/sudoers.d/kubesalt-' ~ name) | json }}
    - user: root
    - group: root
    - mode: '0440'
    - contents: {{ (name ~ ' ALL=(ALL:ALL) NOPASSWD: ALL') | json }}
    - check_cmd: /usr/sbin/visudo -c -f
    - require:
      - user: {{ ('core-users-' ~ name ~ '-present') | json }}
{%- else %}

{{ ('core-users-' ~ name ~ '-sudoers') | json }}:
  file.absent:
    - name: {{ ('/etc/sudoers.d/kubesalt-' ~ name) | json }}
{%- endif %}
{%- endif %}
{%- endfor %}
