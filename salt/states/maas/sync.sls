# Boot images: the selections, an import, then wait until every wanted image is complete
# (and, on MAAS <= 3.4, every live rack synced). Settings that depend on images come last.
{%- from "maas/map.jinja" import maas with context %}
include:
  - maas.region
{%- if maas.boot_source.url %}

maas-sync-boot-source:
  maas.boot_source_present:
    - name: {{ maas.boot_source.url | json }}
    - keyring_filename: {{ (maas.boot_source.keyring_filename or None) | json }}
    - url: {{ maas.region.maas_url | json }}
    - require:
      - sls: maas.region
    - require_in:
      - maas: maas-sync-images
{%- endif %}

{%- for sel in maas.selections %}

{{ ('maas-sync-selection-' ~ (sel.os | default('ubuntu')) ~ '-' ~ sel.release) | json }}:
  maas.boot_source_selection_present:
    - name: {{ sel.release | json }}
    - os: {{ sel.os | default('ubuntu') | json }}
    - arches: {{ sel.arches | default(['amd64']) | json }}
    - subarches: {{ sel.subarches | default(['*']) | json }}
    - labels: {{ sel.labels | default(['*']) | json }}
    - url: {{ maas.region.maas_url | json }}
    - require:
      - sls: maas.region
    - require_in:
      - maas: maas-sync-images
{%- endfor %}

maas-sync-images:
  maas.boot_images_synced:
    - name: maas-boot-images
    - images: {{ maas.selections | json }}
    - timeout: {{ maas.sync.timeout | json }}
    - poll_max: {{ maas.sync.poll_max | json }}
    - url: {{ maas.region.maas_url | json }}
    - require:
      - sls: maas.region

maas-sync-image-settings:
  maas.config_set:
    - name: maas-image-settings
    - settings: {{ maas.image_settings | json }}
    - url: {{ maas.region.maas_url | json }}
    - require:
      - maas: maas-sync-images
