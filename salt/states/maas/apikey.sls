# The admin's API key as a Kubernetes secret on the MicroK8s control plane. The key comes
# from pillar maas:api_key or, on a region host, from `maas apikey`; never from the mine.
{%- from "maas/map.jinja" import maas with context %}

maas-apikey-exported:
  maas.apikey_exported:
    - name: {{ maas.apikey.secret_name | json }}
    - namespace: {{ maas.apikey.namespace | json }}
    - username: {{ maas.admin.username | json }}
    - data_key: {{ maas.apikey.data_key | json }}
    - kubectl: {{ maas.apikey.kubectl | json }}
