# A MAAS rack controller: registered with the region and verified through its API.
{%- from "maas/map.jinja" import maas with context %}

maas-rack-registered:
  maas.rack_registered:
    - name: {{ maas.rack.hostname }}
    - url: {{ maas.rack.url }}
    - secret: {{ maas.rack.secret | yaml_dquote }}
    - method: {{ maas.rack.method }}
    - timeout: {{ maas.rack.timeout }}
