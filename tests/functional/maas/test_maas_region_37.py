"""MAAS 3.7 behaviour: region+rack, a pre-seeded secret overwritten from the DB, racks
without their own image copy (list_boot_images is a stub), 3.5+ settings."""

import pytest

MAAS_VERSION = "3.7"
pytestmark = pytest.mark.timeout(120)
PRESEEDED = "ffffffffffffffffffffffffffffffff"


def test_region_and_rack_on_one_host(states, modules, maas_env):
    maas_env.region.secret_file.parent.mkdir(parents=True, exist_ok=True)
    maas_env.region.secret_file.write_text(PRESEEDED)
    ret = states.maas.region_initialized(
        maas_env.maas_url, database_uri=maas_env.database_uri, mode="region+rack"
    )
    assert ret.result is True, ret.comment
    # 3.3+: the secret store in the database is the authority; the file is rewritten.
    assert maas_env.region.read_secret() != PRESEEDED
    ret = states.maas.admin_present("admin", password="pw-37", email="admin@example.com")
    assert ret.result is True, ret.comment
    region_rack = modules.maas.wait_for_rack("region1", timeout=15)
    assert region_rack["node_type"] == 4
    assert region_rack["node_type_name"] == "Region and rack controller"
    assert "agent" in {s["name"] for s in region_rack["service_set"]}
    assert modules.maas.version()["version"] == "3.7.3"


def test_images_synced_without_rack_copies(states, modules):
    ret = states.maas.boot_images_synced("images", images=[{"release": "noble"}], timeout=60)
    assert ret.result is True, ret.comment
    rack = modules.maas.rack_controller("region1")
    listing = modules.maas.rack_boot_images(rack["system_id"])
    assert listing["status"] == "synced" and listing["connected"] is True
    assert "bootloader/uefi" in {i["name"] for i in listing["images"]}
    assert modules.maas.rack_import_boot_images(rack["system_id"]) == "Accepted"
    again = states.maas.boot_images_synced("images", images=[{"release": "noble"}])
    assert again.result is True and again.changes == {}


def test_settings_of_35_and_later(states, modules):
    ret = states.maas.config_set("session_length", value=3600)
    assert ret.result is True and ret.changes == {"session_length": {"old": 1209600, "new": 3600}}
    assert modules.maas.get_config("session_length") == 3600
    # OS settings only accept what the images provide.
    assert states.maas.config_set("default_distro_series", value="noble").result is True
    bad = states.maas.config_set("default_distro_series", value="bionic")
    assert bad.result is False and "is not a valid release" in bad.comment


def test_boot_source_present(states, modules):
    mirror = "http://mirror.example.com/maas/images/ephemeral-v3/stable/"
    ret = states.maas.boot_source_present(mirror, test=True)
    assert ret.result is None and ret.changes["url"]["new"] == mirror
    ret = states.maas.boot_source_present(mirror)
    assert ret.result is True and ret.changes["url"]["old"].startswith("http://images.maas.io")
    assert modules.maas.boot_sources()[0]["url"] == mirror
    assert states.maas.boot_source_present(mirror).changes == {}
    missing = states.maas.boot_source_present(mirror, boot_source_id=7)
    assert missing.result is False and "no boot source 7" in missing.comment


def test_snap_init_rack_registers(modules, maas_env):
    import subprocess

    rack = maas_env.racks[1]
    res = subprocess.run(
        [
            maas_env.cli(rack),
            "init",
            "rack",
            f"--maas-url={maas_env.maas_url}",
            f"--secret={maas_env.region.read_secret()}",
            "--force",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert rack.snap_mode() == "rack"
    assert modules.maas.wait_for_rack("rack2", timeout=15)["node_type"] == 2
    parsable = subprocess.run(
        [maas_env.cli(rack), "config", "--parsable"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    ).stdout
    assert "mode=rack" in parsable and "secret=(hidden)" in parsable
