{%- from "map.jinja" import kubesalt with context %}
{%- for name, user in kubesalt.users | dictsort %}
{%- if user.get('absent') %}

core-users-{{ name }}-absent:
  user.absent:
    - name: {{ name | json }}

core-users-{{ name }}-sudoers-absent:
  file.absent:
    - name: /etc/sudoers.d/kubesalt-{{ name }}
{%- else %}

# Password '*': no password can ever match, SSH keys are the only way in.
core-users-{{ name }}-present:
  user.present:
    - name: {{ name | json }}
    - shell: {{ user.get('shell', '/bin/bash') }}
    - createhome: True
    - password: '*'
    - optional_groups: {{ user.get('groups', []) | json }}
    - remove_groups: False

core-users-{{ name }}-ssh-keys:
  ssh_auth.manage:
    - user: {{ name | json }}
    - ssh_keys: {{ user.ssh_keys | json }}
    - require:
      - user: core-users-{{ name }}-present

{%- if user.get('sudo') %}

core-users-{{ name }}-sudoers:
  file.managed:
    - name: /etc/sudoers.d/kubesalt-{{ name }}
    - user: root
    - group: root
    - mode: '0440'
    - contents: '{{ name }} ALL=(ALL:ALL) NOPASSWD: ALL'
    - check_cmd: /usr/sbin/visudo -c -f
    - require:
      - user: core-users-{{ name }}-present
{%- else %}

core-users-{{ name }}-sudoers:
  file.absent:
    - name: /etc/sudoers.d/kubesalt-{{ name }}
{%- endif %}
{%- endif %}
{%- endfor %}
