"""The maas SLS tree through state.sls: database (Salt's postgres states on the real
PostgreSQL), region, rack, selections and image sync; a second run changes nothing."""

import logging

import pytest

MAAS_VERSION = "3.4"
CREATE_DATABASE = False
pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def maas_pillar(maas_env):
    pg = maas_env.postgres
    return {
        "maas": {
            "db": {
                "name": maas_env.db_name,
                "user": maas_env.db_name,
                "password": maas_env.db_password,
                "host": pg.host,
                "port": pg.port,
                "superuser": {"runas": "postgres", "db_host": pg.socket_dir, "db_port": pg.port},
            },
            "region": {"maas_url": maas_env.maas_url},
            "admin": {"password": "sls-admin-pw", "email": "admin@example.com"},
            "settings": {"upstream_dns": "8.8.8.8,8.8.4.4", "remote_syslog": "10.0.0.9"},
            "rack": {"hostname": "rack1"},
            "selections": [{"os": "ubuntu", "release": "jammy", "arches": ["amd64"]}],
            "boot_source": {"url": "http://mirror.example.com/maas/images/ephemeral-v3/stable/"},
            "image_settings": {
                "default_distro_series": "jammy",
                "default_min_hwe_kernel": "ga-22.04",
            },
        }
    }


def changed(ret):
    return sorted(r.id for r in ret if r.changes)


def logged(caplog):
    # saltfactories echoes each call with its arguments (the pillar); Salt itself must not.
    return "\n".join(
        r.getMessage() for r in caplog.records if not r.name.startswith("saltfactories")
    )


def test_database_then_region(modules, maas_env, maas_pillar, caplog):
    caplog.set_level(logging.DEBUG)
    ret = modules.state.sls("maas.db", pillar=maas_pillar)
    assert not ret.failed, ret
    assert changed(ret) == ["maas-db-database", "maas-db-user"]
    assert not changed(modules.state.sls("maas.db", pillar=maas_pillar))

    ret = modules.state.sls("maas.region", pillar=maas_pillar)
    assert not ret.failed, ret
    assert changed(ret) == ["maas-region-admin", "maas-region-initialized", "maas-region-settings"]
    text = logged(caplog) + str(ret)
    assert maas_env.db_password not in text and "sls-admin-pw" not in text


def test_rack_and_sync_then_nothing_changes(modules, maas_env, maas_pillar):
    # Racks get the secret and the key from pillar (an operator's, here, or the master's).
    rack = {"hostname": "rack1", "secret": maas_env.region.read_secret()}
    key = modules.maas.api_key("admin", reveal=True)
    pillar = {"maas": {**maas_pillar["maas"], "rack": rack, "api_key": key}}  # fmt: skip
    ret = modules.state.sls("maas.rack", pillar=pillar)
    assert not ret.failed, ret
    assert changed(ret) == ["maas-rack-registered"]

    ret = modules.state.sls("maas", pillar=pillar)
    assert not ret.failed, ret
    # The images themselves may already be complete (the region imports at start, and a
    # rack asks for them when it registers): the wait ran and found them.
    assert any(r.id == "maas-sync-images" and r.result is True for r in ret)
    assert "maas-sync-boot-source" in changed(ret)
    assert "maas-sync-image-settings" in changed(ret)

    for sls in ("maas.db", "maas.rack", "maas"):
        again = modules.state.sls(sls, pillar=pillar)
        assert not again.failed and not changed(again), (sls, changed(again))
