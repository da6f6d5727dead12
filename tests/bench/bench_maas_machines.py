"""Benchmark: two machines deployed by MAAS with a 30 s simulated deployment.

A simulated MAAS 3.4 region (state in a throwaway PostgreSQL 15) has two Ready machines
(power type ``manual``, enlisted with python-libmaas); deployments take 30 s
(``deploy_seconds``). As ``orch.baremetal``'s first steps do, ``maas.machine_deployed`` is
applied to both with ``wait=False`` (allocate + deploy), then ``maas.wait_for_machine`` waits
for each with the default backed-off polling (2 s growing to 15 s). We report the time from
the first state to both Deployed, and the API requests per minute while waiting (counted
in the one client, ``maas_lib.client``).

    .venv/bin/python -m pytest tests/bench/bench_maas_machines.py \
        -o python_files='bench_*.py' -s -p no:randomly
"""

import secrets
import time

from maas.client import login
from saltfactories.utils.functional import Loaders

from kubesalt.sim.maas import host as maas_host
from tests.support.maas_bench import counted_requests  # noqa: F401 (fixture)
from tests.support.maas_bench import run
from tests.support.paths import EXT_DIRS
from tests.support.postgres import free_region_address
from tests.support.postgres import postgres_server  # noqa: F401 (session fixture)

DEPLOY_SECONDS = 30.0


def test_two_machines_deployed(tmp_path, salt_factories, postgres_server, counted_requests):  # noqa: F811
    address = free_region_address()
    db = f"bench_machines_{secrets.token_hex(3)}"
    password = secrets.token_hex(8)
    postgres_server.psql(f"CREATE ROLE {db} LOGIN PASSWORD '{password}'")
    postgres_server.psql(f"CREATE DATABASE {db} OWNER {db}")
    timings = {"import_seconds": 0.5, "deploy_seconds": DEPLOY_SECONDS, "commission_seconds": 0.3}
    region = maas_host.install(
        tmp_path / "region", version="3.4", address=address, hostname="region1", **timings
    )
    url = f"http://{address}:5240/MAAS"
    try:
        cli = str(region.bin_dir / "maas")
        database_uri = postgres_server.uri(db, password, db)
        run([cli, "init", "region", f"--maas-url={url}", f"--database-uri={database_uri}"])
        run([cli, "createadmin", "--username=admin", "--password=bench", "--email=a@example.com"])
        client = login(url, username="admin", password="bench")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            names = {r.name for r in client.boot_resources.list() if r.type == "Synced"}
            if "ubuntu/jammy" in names and not client._origin.session.BootResources.is_importing():
                break
            time.sleep(0.3)
        made = [
            client.machines.create(
                "amd64/generic", [f"52:54:00:00:02:0{i}"], "manual", hostname=f"metal-{i}"
            )
            for i in (1, 2)
        ]
        while not all(client.machines.get(m.system_id).status_name == "Ready" for m in made):
            time.sleep(0.2)
        factory = salt_factories.salt_minion_daemon(
            "bench-maas-machines",
            overrides={"file_client": "local", **EXT_DIRS, "maas.url": url, "maas.cli": cli},
        )
        loaders = Loaders(factory.config.copy())
        counted_requests["n"] = 0
        started = time.monotonic()
        for machine in made:
            ret = loaders.states.maas.machine_deployed(
                machine.hostname, distro_series="jammy", user_data="#cloud-config\n", wait=False
            )
            assert ret.result is True, ret.comment
        deploy_requests = counted_requests["n"]
        waiting_started = time.monotonic()
        for machine in made:
            loaders.modules.maas.wait_for_machine(machine.hostname, statuses="Deployed")
        done = time.monotonic()
        waiting = done - waiting_started
        wait_requests = counted_requests["n"] - deploy_requests
        print(
            f"\ntwo machines, {DEPLOY_SECONDS:.0f} s deployment: both Deployed "
            f"{done - started:.1f} s after the first state; {deploy_requests} requests to "
            f"allocate+deploy, {wait_requests} while waiting {waiting:.1f} s "
            f"({wait_requests / (waiting / 60):.0f}/min)"
        )
        assert done - started < DEPLOY_SECONDS + 20
    finally:
        region.stop_all()
