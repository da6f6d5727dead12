{%- from "map.jinja" import kubesalt with context %}
{%- if kubesalt.packages.install %}

core-packages-installed:
  pkg.installed:
    - pkgs: {{ kubesalt.packages.install | json }}
    - refresh: {{ kubesalt.packages.refresh | json }}
{%- endif %}
{%- if kubesalt.packages.upgrade %}

core-packages-upgraded:
  pkg.uptodate:
    - refresh: {{ kubesalt.packages.refresh | json }}
{%- endif %}
