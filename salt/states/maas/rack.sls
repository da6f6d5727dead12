# A MAAS rack controller: registered with the region and verified through its API.
{%- from "maas/map.jinja" import maas with context %}

maas-rack-registered:
  maas.rack_registered:
    - name: {{ maas.rack.hostname | json }}
    - url: {{ maas.rack.url | json }}
    - secret: {{ maas.rack.secret | yaml_dquote }}
    - method: {{ maas.rack.method | json }}
    - timeout: {{ maas.rack.timeout | json }}
