"""A throwaway PostgreSQL 15 cluster for one test session (others may reuse it).

The cluster is created by ``kubesalt.sim.maas.postgres``: ``initdb`` as ``postgres`` into a
temporary directory it owns, a private unix socket directory, ``listen_addresses`` one
loopback address (127.0.5.1), a free port; trusted on the socket (the superuser), password
(scram-sha-256) over TCP. Stopped and removed at teardown. The system cluster ``main``
stays untouched and down.
"""

from __future__ import annotations

import os
import secrets
import socket
import tempfile

import pytest

from kubesalt.sim.maas import postgres as _pg

PG_BIN = _pg.PG_BIN
PostgresServer = _pg.Cluster


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


def start_postgres(host: str = "127.0.5.1", timeout: float = 60.0) -> PostgresServer:
    base = tempfile.mkdtemp(prefix="kubesalt-pg-")
    return _pg.start(base, host, free_port(host), timeout=timeout)


def stop_postgres(server: PostgresServer) -> None:
    _pg.stop(server, remove=True)


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
