# A MAAS region with its images. The database (maas.db), racks (maas.rack) and the API
# key export (maas.apikey) are applied by role; see salt/states/orch/maas.sls.
include:
  - maas.region
  - maas.sync
