{%- from "map.jinja" import kubesalt with context %}
{%- set master = kubesalt.master %}

# Only this file of master.d is ours: others (e.g. the reactor's, cloud-init's) stay.
salt-master-config:
  file.managed:
    - name: {{ master.config_file | json }}
    - source: salt://salt_master/files/kubesalt.conf.jinja
    - template: jinja
    - user: root
    - group: root
    - mode: '0644'
    - makedirs: True
    - context:
        master: {{ master | json }}

# The master's persistent volume holds the backups (orch.backup): private to the user
# salt-master runs as (its runners write there).
salt-master-backup-dir:
  file.directory:
    - name: {{ master.backup.directory | json }}
    - user: {{ master.user | json }}
    - mode: '0700'
    - makedirs: True

salt-master-service:
  service.running:
    - name: {{ master.service | json }}
    - enable: True

# A new configuration needs a restart, but not now: this very run (its return, the command
# or orchestration waiting for it, the other minions' runs) needs the master. A one-shot
# schedule job of this minion restarts it once nothing needs it (salt_master.master_activity).
salt-master-restart-when-idle:
  module.run:
    - salt_master.schedule_master_restart:
      - service: {{ master.service | json }}
    - onchanges:
      - file: salt-master-config
