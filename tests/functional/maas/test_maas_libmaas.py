"""Canonical's python-libmaas, unchanged, against the simulated MAAS 3.4 region.

python-libmaas binds to the region's ``describe/`` document by MAAS's handler names
(``BootResourcesHandler`` -> ``client.boot_resources``), so these tests fail if the simulator
publishes anything but MAAS's own names, URIs, parameters and actions.
"""

import pytest
from maas.client import connect
from maas.client.bones import CallError
from maas.client.enum import NodeType

from tests.support.libmaas import wait_for_images

MAAS_VERSION = "3.4"
pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def region(initialised_region):
    return initialised_region


@pytest.fixture(scope="module")
def client(libmaas_client):
    return libmaas_client


def _session(client):
    """python-libmaas's low-level ("bones") session behind the facade."""
    return client._origin.session


def test_login_version_and_whoami(client, region):
    version = client.version.get()
    assert version.version == "3.4.6"
    assert "authenticate-api" in version.capabilities
    me = client.users.whoami()
    assert me.username == "admin" and me.is_admin is True
    assert [u.username for u in client.users.list()] == ["admin"]


def test_describe_uses_maas_handler_names(client):
    description = _session(client).description
    names = {r["name"] for r in description["resources"]}
    assert {"RackControllerHandler", "BootResourcesHandler", "AccountHandler"} <= names
    rack = next(r for r in description["resources"] if r["name"] == "RackControllerHandler")
    assert rack["auth"]["params"] == ["system_id"]
    assert rack["auth"]["uri"].endswith("/MAAS/api/2.0/rackcontrollers/{system_id}/")
    list_images = next(a for a in rack["auth"]["actions"] if a["name"] == "list_boot_images")
    assert list_images["method"] == "GET" and list_images["op"] == "list_boot_images"


def test_account_tokens_and_connect_with_a_new_key(client, region):
    credentials = client.account.create_credentials()
    apikey = str(credentials)
    account = _session(client).Account
    assert apikey in [t["token"] for t in account.list_authorisation_tokens()]
    other = connect(region.maas_url, apikey=apikey)
    assert other.users.whoami().username == "admin"
    named = account.create_authorisation_token(name="libmaas-test")
    assert named["name"] == "libmaas-test" and len(named["token_secret"]) == 32
    client.account.delete_credentials(credentials)
    with pytest.raises(CallError) as err:
        client.account.delete_credentials(credentials)
    assert err.value.status == 404


def test_config_through_typed_helpers(client):
    client.maas.set_upstream_dns(["8.8.8.8", "1.1.1.1"])
    assert client.maas.get_upstream_dns() == ["8.8.8.8", "1.1.1.1"]
    client.maas.set_dnssec_validation(client.maas.DNSSEC.NO)
    assert client.maas.get_dnssec_validation() == client.maas.DNSSEC.NO
    client.maas.set_config("enable_analytics", False)
    assert client.maas.get_config("enable_analytics") is False
    with pytest.raises(CallError) as err:
        client.maas.set_config("no_such_setting", "x")
    assert err.value.status == 400


def test_boot_sources_and_selections(client):
    sources = client.boot_sources.list()
    assert [s.id for s in sources] == [1] or sources == []
    source = client.boot_sources.create(
        "http://images.example/ephemeral-v3/stable/", keyring_filename="/tmp/keyring.gpg"
    )
    assert source.url == "http://images.example/ephemeral-v3/stable/"
    origin = client._origin  # selections have no facade; the object layer has them
    selection = origin.BootSourceSelections.create(
        source, "ubuntu", "noble", arches=["amd64"], subarches=["*"], labels=["*"]
    )
    assert (selection.os, selection.release, selection.arches) == ("ubuntu", "noble", ["amd64"])
    assert [s.release for s in origin.BootSourceSelections.read(source)] == ["noble"]
    again = origin.BootSourceSelection.read(source, selection.id)
    assert again.release == "noble"
    selection.delete()
    source.delete()
    assert source.id not in [s.id for s in client.boot_sources.list()]


def test_import_and_resources(client):
    client.boot_resources.start_import()
    synced = wait_for_images(client)
    one = client.boot_resources.get(synced[0].id)
    assert one.sets and all(s.complete for s in one.sets.values())
    client.boot_resources.stop_import()


def test_controllers(client, region):
    racks = client.rack_controllers.list()
    assert [r.hostname for r in racks] == ["rack1"]
    rack = client.rack_controllers.get(racks[0].system_id)
    assert rack.node_type == NodeType.RACK_CONTROLLER
    regions = client.region_controllers.list()
    assert [r.hostname for r in regions] == ["region1"]
    assert client.region_controllers.get(regions[0].system_id).hostname == "region1"
