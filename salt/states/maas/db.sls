# The MAAS database: a role that can log in and a database it owns, in a real PostgreSQL.
# The password is hashed (SCRAM) before psql sees it.
{%- from "maas/map.jinja" import maas with context %}
{%- set su = maas.db.superuser %}

maas-db-user:
  postgres_user.present:
    - name: {{ maas.db.user | json }}
    - password: {{ maas.db.password | yaml_dquote }}
    - encrypted: scram-sha-256
    - login: True
    - user: {{ su.runas | json }}
    - db_user: {{ su.db_user | json }}
    - db_host: {{ su.db_host | yaml_dquote }}
    - db_port: {{ su.db_port | json }}

maas-db-database:
  postgres_database.present:
    - name: {{ maas.db.name | json }}
    - owner: {{ maas.db.user | json }}
    - encoding: UTF8
    - user: {{ su.runas | json }}
    - db_user: {{ su.db_user | json }}
    - db_host: {{ su.db_host | yaml_dquote }}
    - db_port: {{ su.db_port | json }}
    - require:
      - postgres_user: maas-db-user
