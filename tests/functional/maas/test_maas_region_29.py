"""MAAS 2.9 behaviour: the shared secret is reconciled between the database and the file
(a mismatch stops the region), the 2.9 setting list, a version document with a build
string."""

import urllib.request

import pytest

from tests.support.waiting import wait_until

MAAS_VERSION = "2.9"
pytestmark = pytest.mark.timeout(120)
OTHER_SECRET = "0123456789abcdef0123456789abcdef"


def region_answers(url):
    try:
        with urllib.request.urlopen(url + "/api/2.0/version/", timeout=1):  # noqa: S310
            return True
    except OSError:
        return False


def test_rack_joins_a_29_region(states, modules, maas_env):
    ret = states.maas.region_initialized(maas_env.maas_url, database_uri=maas_env.database_uri)
    assert ret.result is True, ret.comment
    assert states.maas.admin_present("admin", password="pw-29", email="a@example.com").result
    secret = maas_env.region.read_secret()
    ret = states.maas.rack_registered("rack1", url=maas_env.maas_url, secret=secret, timeout=20)
    assert ret.result is True, ret.comment
    info = modules.maas.version()
    assert info["version"] == "2.9.2" and info["subversion"]


def test_secret_mismatch_stops_a_29_region(maas_env):
    region = maas_env.region
    secret = region.read_secret()
    region.secret_file.write_text(OTHER_SECRET)
    try:
        region.start_daemon("regiond")
        wait_until(lambda: region.daemon_pid("regiond") is None, 10, "regiond to exit")
        assert "AssertionError" in region.logfile("regiond").read_text()
    finally:
        region.secret_file.write_text(secret)
        region.start_daemon("regiond")
    wait_until(lambda: region_answers(maas_env.maas_url), 10, "the region to answer")


def test_29_settings(states):
    ret = states.maas.config_set("session_length", value=3600)
    assert ret.result is False and "not a valid config setting" in ret.comment
    ret = states.maas.config_set("upstream_dns", value="10.0.0.53, 10.0.0.54")
    assert ret.result is True and ret.changes["upstream_dns"]["new"] == "10.0.0.53 10.0.0.54"


def test_wrong_secret_knob_makes_the_rack_dead(modules, maas_env):
    rack = maas_env.racks[0]
    rack.set_faults(wrong_secret=True)
    try:
        wait_until(
            lambda: modules.maas.rack_controller("rack1")["service_set"][0]["status"] == "dead",
            10,
            "rack1 to be reported dead",
        )
        log = rack.logfile("rackd").read_text()
        assert "the shared secret does not match" in log
    finally:
        rack.set_faults(wrong_secret=None)
    modules.maas.wait_for_rack("rack1", timeout=10)
