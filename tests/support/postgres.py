"""A throwaway PostgreSQL 15 cluster for one test session (others may reuse it).

The cluster is created by ``kubesalt.sim.maas.postgres``: ``initdb`` as ``postgres`` into a
temporary directory it owns, a private unix socket directory, ``listen_addresses`` one
loopback address (127.0.5.1), a free port; trusted on the socket (the superuser), password
(scram-sha-256) over TCP. Stopped and removed at teardown. The system cluster ``main``
stays untouched and down.
"""

from __future__ import annotations

import os
import tempfile

import pytest

from kubesalt.sim.maas import postgres as _pg
from tests.support.addresses import free_loopback_address
from tests.support.addresses import free_port

PG_BIN = _pg.PG_BIN
PostgresServer = _pg.Cluster


def free_region_address(port: int = 5240, first: int = 10, last: int = 250, step: int = 4) -> str:
    """A 127.0.5.x address (x in [first, last], a multiple of ``step`` from ``first``) whose
    ``port`` is free: several test sessions (another engineer's ``make test``) may run
    simulated MAAS regions on this machine at once."""
    return free_loopback_address("127.0.5", port, range(first, last - step + 2, step))


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
