"""maas_lib.parse on real MAAS CLI outputs and API response shapes (table-driven)."""

import pytest

from maas_lib import parse
from tests.support.cases import load_cases


@pytest.mark.parametrize("case", load_cases(__file__, "images_status"))
def test_images_status(case):
    assert parse.images_status(case["wanted"], case["resources"]) == case["expected"]


@pytest.mark.parametrize("case", load_cases(__file__, "rack_sync"))
def test_rack_images_synced(case):
    assert list(parse.rack_images_synced(case["listing"], case["wanted"])) == case["expected"]


@pytest.mark.parametrize("case", load_cases(__file__, "controllers"))
def test_rack_is_alive(case):
    assert parse.rack_is_alive(case["controller"]) is case["alive"]


def test_find_controller_by_short_name_or_fqdn():
    racks = [
        {"hostname": "rack1", "fqdn": "rack1.maas"},
        {"hostname": "rack2", "fqdn": "rack2.maas"},
    ]
    assert parse.find_controller(racks, "rack2")["hostname"] == "rack2"
    assert parse.find_controller(racks, "rack1.example.com")["hostname"] == "rack1"
    assert parse.find_controller(racks, "rack3") is None


@pytest.mark.parametrize("case", load_cases(__file__, "versions"))
def test_versions(case):
    if case["tuple"] is None:
        with pytest.raises(ValueError, match="cannot parse the MAAS version"):
            parse.version_tuple(case["version"])
        assert parse.is_known_version(case["version"]) is False
    else:
        assert list(parse.version_tuple(case["version"])) == case["tuple"]
        assert parse.is_known_version(case["version"]) is True
    assert parse.racks_hold_images(case["version"]) is case["racks_hold"]


@pytest.mark.parametrize("case", load_cases(__file__, "database_uri"))
def test_database_uri(case):
    if "error" in case:
        with pytest.raises(ValueError, match=case["error"]) as err:
            parse.parse_database_uri(case["uri"])
        assert "pw" not in str(err.value).replace("postgres", "")
    else:
        assert parse.parse_database_uri(case["uri"]) == case["expected"]


@pytest.mark.parametrize("case", load_cases(__file__, "apikey_output"))
def test_apikey_output(case):
    assert parse.parse_apikey_output(case["stdout"]) == case["expected"]


def test_parsable_config():
    stdout = (
        "mode=region\nmaas_url=http://10.0.0.5:5240/MAAS\ndatabase_host=10.0.0.2\n"
        "database_port=5432\ndatabase_name=maasdb\ndatabase_user=maas\ndatabase_pass=(hidden)\n"
    )
    parsed = parse.parse_parsable_config(stdout)
    assert parsed["mode"] == "region" and parsed["maas_url"] == "http://10.0.0.5:5240/MAAS"
    assert parsed["database_port"] == "5432"


@pytest.mark.parametrize(
    ("secret", "ok"),
    [("0123456789abcdef0123456789ABCDEF", True), ("not-hex", False), ("", False), (None, False)],
)
def test_hex_secret(secret, ok):
    assert parse.is_hex_secret(secret) is ok


@pytest.mark.parametrize("case", load_cases(__file__, "wanted_images"))
def test_wanted_images(case):
    if "error" in case:
        with pytest.raises(ValueError, match=case["error"]):
            parse.wanted_images(case["images"])
    else:
        assert parse.wanted_images(case["images"]) == case["expected"]
