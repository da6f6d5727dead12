"""Benchmark: one boot image sync by the ``maas.boot_images_synced`` state.

For each simulated MAAS version, a region (and on 3.4 a rack) runs an import of a given
length; we count the API requests the state makes, the requests per minute of import, and
the delay between the moment the images became complete (the region's "Finished
importing" event in the database) and the moment the state returned (target: < 2 s).

    .venv/bin/python -m pytest tests/bench/bench_maas.py -o python_files='bench_*.py' -s
"""

import secrets
import time

import pytest
from saltfactories.utils.functional import Loaders

from kubesalt.sim.maas import host as maas_host
from kubesalt.sim.maas.store import Store
from tests.support.maas_bench import counted_requests  # noqa: F401 (fixture)
from tests.support.maas_bench import run
from tests.support.paths import EXT_DIRS
from tests.support.postgres import free_region_address
from tests.support.postgres import postgres_server  # noqa: F401 (session fixture)

IMPORT_SECONDS = 20.0
CASES = [("3.7", "noble"), ("3.4", "jammy")]


@pytest.mark.parametrize(("version", "release"), CASES)
def test_image_sync(  # noqa: PLR0917
    version,
    release,
    tmp_path,
    salt_factories,
    postgres_server,  # noqa: F811
    counted_requests,  # noqa: F811
):
    address = free_region_address()
    db = f"bench_{version.replace('.', '')}_{secrets.token_hex(3)}"
    password = secrets.token_hex(8)
    postgres_server.psql(f"CREATE ROLE {db} LOGIN PASSWORD '{password}'")
    postgres_server.psql(f"CREATE DATABASE {db} OWNER {db}")
    timings = {"import_seconds": IMPORT_SECONDS, "auto_import_on_start": False,
               "rack_heartbeat": 0.3, "rack_sync_seconds": 0.5}  # fmt: skip
    region = maas_host.install(tmp_path / "region", version=version, address=address,
                               hostname="region1", **timings)  # fmt: skip
    rack = maas_host.install(tmp_path / "rack1", version=version, hostname="rack1", **timings)
    url = f"http://{address}:5240/MAAS"
    try:
        run([str(region.bin_dir / "maas"), "init", "region", f"--maas-url={url}",
             f"--database-uri={postgres_server.uri(db, password, db)}", "--force"])  # fmt: skip
        run([str(region.bin_dir / "maas"), "createadmin", "--username=admin",
             "--password=bench", "--email=admin@example.com"])  # fmt: skip
        run([str(rack.bin_dir / "maas-rack"), "register", f"--url={url}"],
            stdin=region.read_secret() + "\n")  # fmt: skip
        factory = salt_factories.salt_minion_daemon(
            f"bench-maas-{version}",
            overrides={"file_client": "local", **EXT_DIRS, "maas.url": url,
                       "maas.cli": str(region.bin_dir / "maas")},
        )  # fmt: skip
        loaders = Loaders(factory.config.copy())
        loaders.modules.maas.wait_for_rack("rack1", timeout=20)
        counted_requests["n"] = 0
        started = time.time()
        ret = loaders.states.maas.boot_images_synced(
            "bench", images=[{"release": release}], timeout=IMPORT_SECONDS * 4
        )
        returned = time.time()
        assert ret.result is True, ret.comment
        store = Store(postgres_server.host, postgres_server.port, db, db, password)
        finished = store.run(
            "SELECT extract(epoch FROM created) FROM maas_event "
            "WHERE description = 'Finished importing boot images.' ORDER BY id DESC LIMIT 1"
        )[0][0]
        store.close()
        delay = returned - float(finished)
        elapsed = returned - started
        per_minute = counted_requests["n"] / (elapsed / 60)
        print(
            f"\nMAAS {version}: import {IMPORT_SECONDS:.0f} s; state took {elapsed:.1f} s, "
            f"{counted_requests['n']} API requests ({per_minute:.0f}/min); returned "
            f"{delay:.2f} s after the images were complete"
            + (" (then the rack synced)" if version == "3.4" else "")
        )
        assert delay < (2.0 if version == "3.7" else 4.0)
    finally:
        region.stop_all()
        rack.stop_all()
