{%- from "map.jinja" import kubesalt with context %}
{%- set master = kubesalt.master %}
{%- set secret_dir = salt['file.dirname'](master.join_secret_file) %}

# Only this file of master.d is ours: others (e.g. the reactor's, cloud-init's) stay.
salt-master-config:
  file.managed:
    - name: {{ master.config_file }}
    - source: salt://salt_master/files/kubesalt.conf.jinja
    - template: jinja
    - user: root
    - group: root
    - mode: '0644'
    - makedirs: True
    - context:
        master: {{ master | json }}

salt-master-join-secret-dir:
  file.directory:
    - name: {{ secret_dir }}
    - user: root
    - group: root
    - mode: '0700'

# The secret join tokens are derived from (pillar/cluster.sls). Created once, never shown,
# never replaced: replacing it would invalidate every registered token.
salt-master-join-secret:
  cmd.run:
    - name: umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > {{ master.join_secret_file }}
    - creates: {{ master.join_secret_file }}
    - require:
      - file: salt-master-join-secret-dir

salt-master-join-secret-mode:
  file.managed:
    - name: {{ master.join_secret_file }}
    - replace: False
    - show_changes: False
    - user: root
    - group: root
    - mode: '0600'
    - require:
      - cmd: salt-master-join-secret

salt-master-service:
  service.running:
    - name: {{ master.service }}
    - enable: True
    - watch:
      - file: salt-master-config
