"""MAAS functional tier: our Salt modules, through the real loader, against the simulator.

Each test module gets its own simulated region host (on its own 127.0.5.x address, port
5240), rack hosts, and a fresh database in the session's private PostgreSQL cluster. Every
daemon the simulator started is stopped at teardown.
"""

import asyncio
import dataclasses
import logging
import pathlib
import secrets
import subprocess

import pytest
from maas.client import login

from kubesalt.sim.maas import host as maas_host
from tests.support.postgres import free_region_address
from tests.support.postgres import postgres_server  # noqa: F401 (session fixture)

# 127.0.5.1 is PostgreSQL; each module takes a block of 3 addresses (region, 2 racks) from
# 127.0.5.10 on, at a random free place (other test sessions may run at the same time).
FAST = {
    "import_start_delay": 0.3,
    "import_seconds": 1.0,
    "rack_sync_seconds": 0.3,
    "rack_heartbeat": 0.2,
    "rack_dead_after": 1.5,
    "commission_seconds": 0.3,
    "deploy_seconds": 0.6,
    "release_seconds": 0.3,
}
LIBMAAS_ADMIN_PASSWORD = "libmaas-Adm1n-pw"


@dataclasses.dataclass
class MaasEnv:
    version: str
    region: maas_host.Host
    racks: list
    maas_url: str
    database_uri: str
    db_password: str
    db_name: str
    postgres: object

    def cli(self, host=None):
        return str((host or self.region).bin_dir / "maas")

    def rack_cli(self, index=0):
        return str(self.racks[index].bin_dir / "maas-rack")


@pytest.fixture(scope="module")
def maas_version(request):
    return getattr(request.module, "MAAS_VERSION", "3.4")


@pytest.fixture(scope="module")
def maas_env(request, tmp_path_factory, postgres_server, maas_version):  # noqa: F811
    region_address = free_region_address()
    base = int(region_address.rsplit(".", 1)[1])
    root = pathlib.Path(tmp_path_factory.mktemp(f"maas-{maas_version}"))
    db_name = f"maas_{maas_version.replace('.', '')}_{secrets.token_hex(3)}"
    db_password = secrets.token_hex(12)
    if getattr(request.module, "CREATE_DATABASE", True):  # else the test's maas.db SLS does
        postgres_server.psql(f"CREATE ROLE {db_name} LOGIN PASSWORD '{db_password}'")
        postgres_server.psql(f"CREATE DATABASE {db_name} OWNER {db_name}")
    region = maas_host.install(
        root / "region",
        version=maas_version,
        address=f"127.0.5.{base}",
        hostname="region1",
        **FAST,
    )
    racks = [
        maas_host.install(
            root / f"rack{i}",
            version=maas_version,
            address=f"127.0.5.{base + i}",
            hostname=f"rack{i}",
            **FAST,
        )
        for i in (1, 2)
    ]
    env = MaasEnv(
        version=maas_version,
        region=region,
        racks=racks,
        maas_url=f"http://127.0.5.{base}:5240/MAAS",
        database_uri=postgres_server.uri(db_name, db_password, db_name),
        db_password=db_password,
        db_name=db_name,
        postgres=postgres_server,
    )
    try:
        yield env
    finally:
        for host in (region, *racks):
            host.stop_all()


@pytest.fixture(scope="module")
def minion_config_overrides(maas_env, tmp_path_factory):
    return {
        # An empty pillar: these tests give the modules their settings explicitly.
        "pillar_roots": {"base": [str(tmp_path_factory.mktemp("empty-pillar"))]},
        "maas.cli": maas_env.cli(),
        "maas.rack_cli": maas_env.rack_cli(0),
        "maas.url": maas_env.maas_url,
        "maas.secret_file": str(maas_env.region.secret_file),
        "maas.api_backoff": 0.05,
        "maas.api_backoff_max": 0.2,
    }


def _run(argv, stdin=None):
    proc = subprocess.run(
        argv, input=stdin, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc.stdout


@pytest.fixture(scope="module")
def initialised_region(maas_env):
    """The module's region initialised with the snap CLI, an admin, and the first rack."""
    cli = maas_env.cli()
    init = ["init", "region", f"--maas-url={maas_env.maas_url}"]
    _run([cli, *init, f"--database-uri={maas_env.database_uri}"])
    admin = ["--username=admin", f"--password={LIBMAAS_ADMIN_PASSWORD}"]
    _run([cli, "createadmin", *admin, "--email=admin@example.com"])
    rack_cli = maas_env.rack_cli(0)
    _run([rack_cli, "install-shared-secret"], stdin=maas_env.region.read_secret() + "\n")
    _run([rack_cli, "register", "--url", maas_env.maas_url])
    return maas_env


@pytest.fixture(scope="session")
def libmaas_loop():
    """The event loop python-libmaas's sync API runs its coroutines on.

    Its sync wrapper takes ``asyncio.get_event_loop()`` at every call; Salt 3008's loader
    leaves the main thread with no current loop (``set_event_loop(None)``), after which that
    call raises "There is no current event loop". A process that only uses libmaas never
    sees this; the tests share their process with Salt's loader, so they keep one loop and
    make it current before each use.
    """
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(autouse=True)
def _libmaas_loop_current(request):
    if "libmaas_client" in request.fixturenames:
        asyncio.set_event_loop(request.getfixturevalue("libmaas_loop"))


@pytest.fixture(scope="module")
def libmaas_client(initialised_region, libmaas_loop):
    """Canonical's python-libmaas client, logged in as the admin (its sync API)."""
    asyncio.set_event_loop(libmaas_loop)
    return login(initialised_region.maas_url, username="admin", password=LIBMAAS_ADMIN_PASSWORD)


class DebugLogs:
    """Every log record at DEBUG, except the test harness's own echo of the call arguments
    (saltfactories logs ``state.single(...)`` with its kwargs; Salt itself does not)."""

    def __init__(self, caplog):
        self.caplog = caplog

    @property
    def text(self):
        return "\n".join(
            f"{r.name} {r.getMessage()}"
            for r in self.caplog.records
            if not r.name.startswith("saltfactories")
        )


@pytest.fixture
def debug_logs(caplog):
    caplog.set_level(logging.DEBUG)
    return DebugLogs(caplog)
