"""Issue 9 item 5: boot_images_synced raised a raw ValueError when the region reports
version ``unknown`` (a MAAS run from source, whose version MAAS cannot name). Such a MAAS is
taken as the newest (racks hold no images of their own since 3.5), and the comment says so;
region_initialized accepts ``maas-test-db:///`` as ``maas init`` does."""

import pytest

from tests.support.fake_salt import specced
from tests.support.loading import load_ext

maas_states = load_ext("states", "maas")
IMAGES = [{"os": "ubuntu", "release": "noble", "arches": ["amd64"]}]


class FakeMaas:
    def __init__(self, version, incomplete=None):
        self.version = version
        self.incomplete = dict(incomplete or {})
        self.calls = []

    def functions(self):
        def record(name, result=None):
            def call(*args, **kwargs):
                self.calls.append(name)
                return result

            return call

        return specced(
            "modules",
            {
                "maas.version": lambda url=None: {"version": self.version},
                "maas.images_status": lambda wanted, **api: {
                    "complete": [],
                    "incomplete": self.incomplete,
                },
                "maas.rack_controllers": record("rack_controllers", []),
                "maas.import_boot_resources": record("import_boot_resources", True),
                "maas.is_importing": record("is_importing", False),
                "maas.init_status": lambda: {},
                "maas.init_region": record("init_region", True),
            },
        )


@pytest.fixture
def fake():
    return FakeMaas("unknown")


@pytest.fixture
def configure_loader_modules(fake):
    return {
        maas_states: {
            "__salt__": fake.functions(),
            "__opts__": {"test": False},
            "__context__": {},
            "__pillar__": {},
        }
    }


@pytest.mark.parametrize("version", ["unknown", ""])
def test_images_complete_on_a_region_of_unknown_version(fake, version):
    fake.version = version
    ret = maas_states.boot_images_synced("images", images=IMAGES)
    assert ret["result"] is True, ret["comment"]
    assert "taken as the newest" in ret["comment"]
    assert "rack_controllers" not in fake.calls  # racks hold no images of their own


def test_test_mode_on_a_region_of_unknown_version(fake):
    fake.incomplete = {"ubuntu/noble": "absent"}
    maas_states.__opts__["test"] = True
    ret = maas_states.boot_images_synced("images", images=IMAGES)
    assert ret["result"] is None
    assert "taken as the newest" in ret["comment"]
    assert "import_boot_resources" not in fake.calls


def test_region_initialized_accepts_maas_test_db(fake):
    maas_states.__opts__["test"] = True
    ret = maas_states.region_initialized(
        "http://10.0.0.5:5240/MAAS", database_uri="maas-test-db:///", mode="region"
    )
    assert ret["result"] is None, ret["comment"]
    assert ret["changes"]["database_name"] == {"old": None, "new": "maasdb"}
    assert ret["changes"]["database_host"]["new"] == "/var/snap/maas/common/test-db-socket"
