{#-
  salt-run state.orchestrate orch.backup          (the master's schedule runs it too)

  A datastore backup on the first control plane that answers (microk8s dbctl backup; the
  archive goes to the master with cp.push, never through a job return), then the runner
  microk8s_backup.collect moves it to the master's persistent volume
  (kubesalt:master:backup:directory, default /srv/kubesalt/backups) with the master's own
  PKI, join secret and inventory, keeping the newest kubesalt:master:backup:keep.
-#}
{%- import_yaml "defaults.yaml" as defaults %}
{%- set master = salt['slsutil.merge'](defaults.kubesalt.master, salt['pillar.get']('kubesalt:master', {}), merge_lists=False) %}
{%- set control_planes = salt['pillar.get']('kubesalt:microk8s:control_planes', []) %}
{%- set up = salt['saltutil.runner']('manage.up', tgt=control_planes | join(','), tgt_type='list') if control_planes else [] %}
{%- set source = (control_planes | select('in', up | default([], true)) | list)[:1] %}
{%- if not source %}

backup-no-control-plane:
  test.fail_without_changes:
    - name: >-
        no control plane of kubesalt:microk8s:control_planes answers: nothing to back up from
{%- else %}

backup-datastore:
  salt.function:
    - name: microk8s.backup
    - tgt: {{ source[0] | json }}
    - tgt_type: list
    - kwarg:
        keep: 2
        push: True
    - timeout: 1900

backup-collect:
  salt.runner:
    - name: microk8s_backup.collect
    - directory: {{ master.backup.directory | json }}
    - keep: {{ master.backup.keep }}
    - require:
      - salt: backup-datastore
{%- endif %}
