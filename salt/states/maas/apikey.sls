# The admin's API key as a Kubernetes secret on the MicroK8s control plane. The key comes
# from pillar compiled on the master: maas:api_key when the operator gives it, else
# kubesalt:maas:api_key, which the master hands to the first control plane once the first
# region has given it to the master (pillar/maas.sls, docs/maas.md). Never from the mine,
# never in this file.
{%- from "maas/map.jinja" import maas with context %}

maas-apikey-exported:
  maas.apikey_exported:
    - name: {{ maas.apikey.secret_name | json }}
    - namespace: {{ maas.apikey.namespace | json }}
    - username: {{ maas.admin.username | json }}
    - data_key: {{ maas.apikey.data_key | json }}
    - kubectl: {{ maas.apikey.kubectl | json }}
    - api_key_pillar: {{ 'maas:api_key' if maas.api_key | default('') else 'kubesalt:maas:api_key' }}
