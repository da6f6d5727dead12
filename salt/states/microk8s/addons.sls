{%- from "map.jinja" import kubesalt with context %}
{%- set plan = salt['cluster.addons'](kubesalt) %}
{#- Addons are cluster-wide: applied on the bootstrap control plane only. #}
include:
  - microk8s.base
{%- for addon in plan.enabled %}

{{ ('microk8s-addons-' ~ addon.name ~ '-enabled') | json }}:
  microk8s.addon_enabled:
    - name: {{ addon.name | json }}
    - args: {{ addon.args | json }}
    - require:
      - microk8s: microk8s-base-running
{%- endfor %}
{%- for name in plan.disabled %}

{{ ('microk8s-addons-' ~ name ~ '-disabled') | json }}:
  microk8s.addon_disabled:
    - name: {{ name | json }}
    - require:
      - microk8s: microk8s-base-running
{%- endfor %}
