{#-
  salt-run state.orchestrate orch.restore

  Loads the latest datastore backup (from the master's persistent volume) into the cluster
  of the first control plane: after the control planes were replaced and orch.cluster built
  a new cluster, this brings its Kubernetes objects back. The archive reaches that control
  plane through its own pillar only (runner microk8s_backup.request_restore, then
  microk8s.restore_from_pillar) and is withdrawn right after, success or not. With no
  backup it fails at once, saying so, and changes nothing.
-#}
{%- import_yaml "defaults.yaml" as defaults %}
{%- set master = salt['slsutil.merge'](defaults.kubesalt.master, salt['pillar.get']('kubesalt:master', {}), merge_lists=False) %}
{%- set control_planes = salt['pillar.get']('kubesalt:microk8s:control_planes', []) %}
{%- set found = salt['saltutil.runner']('microk8s_backup.latest', directory=master.backup.directory) %}
{%- if not control_planes or found.get('error') %}

restore-refused:
  test.fail_without_changes:
    - name: {{ (found.get('error') or 'kubesalt:microk8s:control_planes is empty') | json }}
{%- else %}
{%- set target = control_planes[0] %}

restore-request:
  salt.runner:
    - name: microk8s_backup.request_restore
    - minion: {{ target | json }}
    - archive: {{ found.archive | json }}
    - directory: {{ master.backup.directory | json }}

restore-pillar:
  salt.function:
    - name: saltutil.refresh_pillar
    - tgt: {{ target | json }}
    - tgt_type: list
    - kwarg:
        wait: True
    - require:
      - salt: restore-request

restore-datastore:
  salt.function:
    - name: microk8s.restore_from_pillar
    - tgt: {{ target | json }}
    - tgt_type: list
    - timeout: 1900
    - require:
      - salt: restore-pillar

# Whatever happened: the archive leaves the pillar.
restore-withdraw:
  salt.runner:
    - name: microk8s_backup.clear_restore
    - directory: {{ master.backup.directory | json }}
    - require:
      - salt: restore-request

restore-pillar-dropped:
  salt.function:
    - name: saltutil.refresh_pillar
    - tgt: {{ target | json }}
    - tgt_type: list
    - require:
      - salt: restore-withdraw
{%- endif %}
