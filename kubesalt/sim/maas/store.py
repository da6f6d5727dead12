"""The simulator's MAAS state, kept in the real PostgreSQL database given to ``maas init``.

Tables are named like MAAS's own (``maasserver_*`` trimmed to ``maas_*``); the schema is
created by the "migrations" that ``maas init`` runs on an empty database only.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import string
import threading

import pg8000.native

SCHEMA = """
CREATE TABLE maas_meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE maas_user (
  id serial PRIMARY KEY, username text UNIQUE NOT NULL, email text UNIQUE NOT NULL,
  password text NOT NULL, is_superuser boolean NOT NULL, is_active boolean NOT NULL DEFAULT true);
CREATE TABLE maas_token (
  token_key text PRIMARY KEY, consumer_key text UNIQUE NOT NULL, token_secret text NOT NULL,
  name text NOT NULL, user_id integer NOT NULL REFERENCES maas_user ON DELETE CASCADE,
  created timestamptz NOT NULL DEFAULT now());
CREATE TABLE maas_config (name text PRIMARY KEY, value text NOT NULL);
CREATE TABLE maas_bootsource (
  id serial PRIMARY KEY, url text UNIQUE NOT NULL, keyring_filename text NOT NULL DEFAULT '',
  keyring_data text NOT NULL DEFAULT '', created timestamp NOT NULL DEFAULT now(),
  updated timestamp NOT NULL DEFAULT now());
CREATE TABLE maas_bootsourcecache (
  boot_source_id integer NOT NULL REFERENCES maas_bootsource ON DELETE CASCADE,
  os text NOT NULL, release text NOT NULL, arch text NOT NULL, subarch text NOT NULL,
  label text NOT NULL);
CREATE TABLE maas_bootsourceselection (
  id serial PRIMARY KEY,
  boot_source_id integer NOT NULL REFERENCES maas_bootsource ON DELETE CASCADE,
  os text NOT NULL, release text NOT NULL, arches text NOT NULL, subarches text NOT NULL,
  labels text NOT NULL, UNIQUE (boot_source_id, os, release));
CREATE TABLE maas_bootresource (
  id serial PRIMARY KEY, rtype integer NOT NULL, name text NOT NULL,
  architecture text NOT NULL, extra text NOT NULL DEFAULT '{}',
  UNIQUE (name, architecture));
CREATE TABLE maas_bootresourceset (
  id serial PRIMARY KEY,
  resource_id integer NOT NULL REFERENCES maas_bootresource ON DELETE CASCADE,
  version text NOT NULL, label text NOT NULL, size bigint NOT NULL,
  progress double precision NOT NULL DEFAULT 0, UNIQUE (resource_id, version));
CREATE TABLE maas_node (
  system_id text PRIMARY KEY, hostname text UNIQUE NOT NULL, node_type integer NOT NULL,
  version text NOT NULL, last_seen timestamptz, rack_images text NOT NULL DEFAULT '[]',
  rack_syncing boolean NOT NULL DEFAULT false, sync_requested boolean NOT NULL DEFAULT false,
  created timestamptz NOT NULL DEFAULT now());
CREATE TABLE maas_event (
  id serial PRIMARY KEY, created timestamptz NOT NULL DEFAULT now(), description text NOT NULL);
"""
ALNUM = string.ascii_letters + string.digits
NODE_TYPES = {"rack": 2, "region": 3, "region+rack": 4}


def random_string(length: int) -> str:
    return "".join(secrets.choice(ALNUM) for _ in range(length))


def hash_password(password: str, salt: str | None = None) -> str:
    salt = salt or random_string(12)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), 20000).hex()
    return f"pbkdf2_sha256$20000${salt}${digest}"


def check_password(password: str, stored: str) -> bool:
    try:
        _, _, salt, _ = stored.split("$")
    except ValueError:
        return False
    return secrets.compare_digest(hash_password(password, salt), stored)


class Store:
    """A thread-safe handle on the MAAS database (one connection, serialised)."""

    def __init__(self, host, port, dbname, user, password, *, timeout=10):
        self._conn = pg8000.native.Connection(
            user,
            host=host,
            port=int(port),
            database=dbname,
            password=password,
            timeout=timeout,
            application_name="maas-sim",
        )
        self._lock = threading.RLock()

    @classmethod
    def from_conf(cls, conf: dict) -> Store:
        return cls(
            conf.get("database_host", "localhost"),
            conf.get("database_port", 5432),
            conf["database_name"],
            conf["database_user"],
            conf.get("database_pass", ""),
        )

    def close(self):
        with self._lock:
            self._conn.close()

    def run(self, sql: str, **params) -> list:
        with self._lock:
            return self._conn.run(sql, **params)

    def rows(self, sql: str, **params) -> list[dict]:
        with self._lock:
            result = self._conn.run(sql, **params)
            columns = [c["name"] for c in self._conn.columns or []]
        return [dict(zip(columns, row, strict=False)) for row in result]

    def transaction(self):
        return _Transaction(self)

    # -- schema -------------------------------------------------------------------------------
    def has_tables(self) -> bool:
        return bool(self.run("SELECT 1 FROM pg_tables WHERE schemaname = 'public' LIMIT 1"))

    def migrate(self, version: str) -> None:
        with self.transaction():
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    self.run(statement)
            self.set_meta("schema_version", version)
            self.set_meta("uuid", random_string(32))

    # -- meta (secrets, uuid) -------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        rows = self.run("SELECT value FROM maas_meta WHERE key = :k", k=key)
        return rows[0][0] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        self.run(
            "INSERT INTO maas_meta (key, value) VALUES (:k, :v) "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            k=key,
            v=value,
        )

    def event(self, description: str) -> None:
        self.run("INSERT INTO maas_event (description) VALUES (:d)", d=description)

    # -- users and tokens ---------------------------------------------------------------------
    def user(self, username: str) -> dict | None:
        rows = self.rows("SELECT * FROM maas_user WHERE username = :u", u=username)
        return rows[0] if rows else None

    def create_user(self, username, email, password, superuser=True) -> dict:
        with self.transaction():
            if self.rows(
                "SELECT 1 FROM maas_user WHERE email = :e OR username = :u", e=email, u=username
            ):
                raise ValueError(f"A user with the email {email} already exists.")
            user_id = self.run(
                "INSERT INTO maas_user (username, email, password, is_superuser) "
                "VALUES (:u, :e, :p, :s) RETURNING id",
                u=username,
                e=email,
                p=hash_password(password),
                s=superuser,
            )[0][0]
            self.create_token(user_id, "MAAS consumer")
        return self.user(username)

    def set_password(self, username: str, password: str) -> bool:
        rows = self.run(
            "UPDATE maas_user SET password = :p WHERE username = :u RETURNING id",
            p=hash_password(password),
            u=username,
        )
        return bool(rows)

    def create_token(self, user_id: int, name: str) -> dict:
        token = {
            "consumer_key": random_string(18),
            "token_key": random_string(18),
            "token_secret": random_string(32),
            "name": name,
        }
        self.run(
            "INSERT INTO maas_token (token_key, consumer_key, token_secret, name, user_id) "
            "VALUES (:tk, :ck, :ts, :n, :uid)",
            tk=token["token_key"],
            ck=token["consumer_key"],
            ts=token["token_secret"],
            n=name,
            uid=user_id,
        )
        return token

    def tokens(self, user_id: int) -> list[dict]:
        return self.rows(
            "SELECT * FROM maas_token WHERE user_id = :u ORDER BY created, token_key", u=user_id
        )

    def token(self, token_key: str) -> dict | None:
        rows = self.rows(
            "SELECT t.*, u.username, u.email, u.is_superuser, u.is_active FROM maas_token t "
            "JOIN maas_user u ON u.id = t.user_id WHERE t.token_key = :k",
            k=token_key,
        )
        return rows[0] if rows else None

    def consumer_exists(self, consumer_key: str) -> bool:
        return bool(self.run("SELECT 1 FROM maas_token WHERE consumer_key = :c", c=consumer_key))

    def delete_token(self, user_id: int, token_key: str) -> bool:
        return bool(
            self.run(
                "DELETE FROM maas_token WHERE user_id = :u AND token_key = :k RETURNING 1",
                u=user_id,
                k=token_key,
            )
        )

    def rename_token(self, user_id: int, token_key: str, name: str) -> bool:
        return bool(
            self.run(
                "UPDATE maas_token SET name = :n WHERE user_id = :u AND token_key = :k RETURNING 1",
                n=name,
                u=user_id,
                k=token_key,
            )
        )

    # -- config -------------------------------------------------------------------------------
    def config(self) -> dict:
        return {r["name"]: json.loads(r["value"]) for r in self.rows("SELECT * FROM maas_config")}

    def set_config(self, name: str, value) -> None:
        self.run(
            "INSERT INTO maas_config (name, value) VALUES (:n, :v) "
            "ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
            n=name,
            v=json.dumps(value),
        )


class _Transaction:
    def __init__(self, store: Store):
        self.store = store

    def __enter__(self):
        self.store._lock.acquire()
        self.store._conn.run("BEGIN")
        return self.store

    def __exit__(self, exc_type, exc, tb):
        try:
            self.store._conn.run("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self.store._lock.release()
        return False
