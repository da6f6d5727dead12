# A MAAS rack controller: registered with the region and verified through its API. The
# shared secret and the API key come from pillar compiled on the master, never from this
# file: maas:rack:secret / maas:api_key when the operator gives them (e.g. an encrypted
# pillar), else kubesalt:maas:shared_secret / kubesalt:maas:api_key, which the master hands
# out once the first region has given them to it (pillar/maas.sls, docs/maas.md).
{%- from "maas/map.jinja" import maas with context %}

maas-rack-registered:
  maas.rack_registered:
    - name: {{ maas.rack.hostname | json }}
    - url: {{ maas.rack.url | json }}
    - secret_pillar: {{ 'maas:rack:secret' if maas.rack.secret else 'kubesalt:maas:shared_secret' }}
    - api_key_pillar: {{ 'maas:api_key' if maas.api_key | default('') else 'kubesalt:maas:api_key' }}
    - method: {{ maas.rack.method | json }}
    - timeout: {{ maas.rack.timeout | json }}
