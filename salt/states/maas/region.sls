# A MAAS region: initialised against the database, the admin, the settings that do not
# depend on images. Run on one region at a time (parallel inits race on migrations).
{%- from "maas/map.jinja" import maas, database_uri with context %}

maas-region-initialized:
  maas.region_initialized:
    - name: {{ maas.region.maas_url | json }}
    - database_uri: {{ database_uri | yaml_dquote }}
    - mode: {{ maas.region.mode | json }}

maas-region-admin:
  maas.admin_present:
    - name: {{ maas.admin.username | json }}
    - password: {{ maas.admin.password | yaml_dquote }}
    - email: {{ maas.admin.email | json }}
    - url: {{ maas.region.maas_url | json }}
    - require:
      - maas: maas-region-initialized

maas-region-settings:
  maas.config_set:
    - name: maas-region-settings
    - settings: {{ maas.settings | json }}
    - url: {{ maas.region.maas_url | json }}
    - require:
      - maas: maas-region-admin
{%- if salt['pillar.get']('kubesalt:maas:handoff:path') %}

# The first region hands its shared secret and the admin's API key to the master (one-way
# cp.push), whose pillar gives them to the racks and the control plane (pillar/maas.sls).
maas-region-handoff:
  maas.handoff_pushed:
    - name: {{ salt['pillar.get']('kubesalt:maas:handoff:path') | json }}
    - fingerprint_pillar: kubesalt:maas:handoff:fingerprint
    - username: {{ maas.admin.username | json }}
    - require:
      - maas: maas-region-admin
{%- endif %}
