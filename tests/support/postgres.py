"""A throwaway PostgreSQL 15 cluster for one test session.

``initdb`` runs as the ``postgres`` user into a temporary directory it owns; the server
listens on a private unix socket directory and on one loopback address (never the system
cluster ``main``, which stays untouched and down). Local socket connections are trusted (the
test suite acts as the database superuser, like Salt's postgres states on a database host);
TCP connections need a password (scram-sha-256), so the roles tests create are really
checked. Stopped and removed at teardown.

Use the ``postgres_server`` session fixture (re-exported by conftest files that need it), or
``PostgresServer`` directly.
"""

from __future__ import annotations

import dataclasses
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

PG_BIN = "/usr/lib/postgresql/15/bin"
SUPERUSER = "postgres"


def free_region_address(port: int = 5240, first: int = 10, last: int = 250, step: int = 4) -> str:
    """A 127.0.5.x address (x in [first, last], a multiple of ``step`` from ``first``) whose
    ``port`` is free, starting from a random block: several test sessions (another
    engineer's ``make test``) may run simulated MAAS regions on this machine at once."""
    blocks = list(range(first, last - step + 2, step))
    start = secrets.randbelow(len(blocks))
    for base in blocks[start:] + blocks[:start]:
        address = f"127.0.5.{base}"
        with socket.socket() as sock:
            try:
                sock.bind((address, port))
            except OSError:
                continue
        return address
    raise RuntimeError(f"no free 127.0.5.x address with port {port} free")


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclasses.dataclass
class PostgresServer:
    """One running cluster: where it listens and how to reach it as superuser."""

    host: str
    port: int
    socket_dir: str
    data_dir: str
    base_dir: str

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        """Run SQL as the superuser over the unix socket; return stdout (bounded: 30 s)."""
        res = subprocess.run(
            [
                "runuser",
                "-u",
                SUPERUSER,
                "--",
                "/usr/bin/psql",
                "-h",
                self.socket_dir,
                "-p",
                str(self.port),
                "-d",
                dbname,
                "-XAtq",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if res.returncode:
            raise RuntimeError(f"psql failed: {res.stderr.strip()}")
        return res.stdout

    def uri(self, user: str, password: str, dbname: str) -> str:
        return f"postgres://{user}:{password}@{self.host}:{self.port}/{dbname}"


def start_postgres(host: str = "127.0.5.1", timeout: float = 60.0) -> PostgresServer:
    pg_user = pwd.getpwnam(SUPERUSER)
    base = tempfile.mkdtemp(prefix="kubesalt-pg-")
    os.chown(base, pg_user.pw_uid, pg_user.pw_gid)
    os.chmod(base, 0o700)
    data_dir = os.path.join(base, "data")
    socket_dir = os.path.join(base, "sock")
    os.mkdir(socket_dir, 0o700)
    os.chown(socket_dir, pg_user.pw_uid, pg_user.pw_gid)
    port = free_port(host)
    run = ["runuser", "-u", SUPERUSER, "--"]
    subprocess.run(
        [
            *run,
            f"{PG_BIN}/initdb",
            "-D",
            data_dir,
            "-U",
            SUPERUSER,
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    options = (
        f"-c listen_addresses={host} -p {port} -k {socket_dir} -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100"
    )
    subprocess.run(
        [
            *run,
            f"{PG_BIN}/pg_ctl",
            "-D",
            data_dir,
            "-l",
            os.path.join(base, "log"),
            "-o",
            options,
            "-w",
            "-t",
            str(int(timeout)),
            "start",
        ],
        capture_output=True,
        text=True,
        timeout=timeout + 5,
        check=True,
    )
    server = PostgresServer(host, port, socket_dir, data_dir, base)
    deadline = time.monotonic() + timeout
    while True:
        try:
            server.psql("SELECT 1")
            return server
        except RuntimeError:
            if time.monotonic() > deadline:
                stop_postgres(server)
                raise
            time.sleep(0.2)


def stop_postgres(server: PostgresServer) -> None:
    subprocess.run(
        [
            "runuser",
            "-u",
            SUPERUSER,
            "--",
            f"{PG_BIN}/pg_ctl",
            "-D",
            server.data_dir,
            "-m",
            "immediate",
            "-w",
            "-t",
            "30",
            "stop",
        ],
        capture_output=True,
        timeout=40,
        check=False,
    )
    shutil.rmtree(server.base_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server():
    """A private PostgreSQL cluster on 127.0.5.1 (socket dir private), for the session."""
    if os.geteuid() != 0 or not os.path.exists(f"{PG_BIN}/initdb"):
        pytest.skip("needs root and PostgreSQL 15 server binaries")
    server = start_postgres()
    try:
        yield server
    finally:
        stop_postgres(server)
