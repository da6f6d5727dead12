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

salt-master-service:
  service.running:
    - name: {{ master.service | json }}
    - enable: True
    - watch:
      - file: salt-master-config
