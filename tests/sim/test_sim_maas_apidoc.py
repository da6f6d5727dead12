"""The MAAS simulator's API description: MAAS's names, and in step with what it serves."""

from kubesalt.sim.maas import apidoc
from kubesalt.sim.maas import host as maas_host
from kubesalt.sim.maas import regiond
from tests.support.loading import load_path
from tests.support.paths import REPO_ROOT


def _generator():
    return load_path(REPO_ROOT / "tools" / "maas_api_description.py", "maas_api_description")


def test_every_described_handler_is_served_and_nothing_else():
    described = {r["name"] for r in apidoc.description()["resources"]}
    assert described == set(regiond.DISPATCH)
    for name, method in regiond.DISPATCH.items():
        assert callable(getattr(regiond.Handler, method)), name


def test_generated_file_matches_the_generator_table():
    simulated = _generator().SIMULATED
    served = {}
    for name, method, op in apidoc.actions():
        served.setdefault(name, set()).add((method, op))
    assert served == {name: set(actions) for name, actions in simulated.items()}
    assert regiond.ADMIN_ACTIONS <= set(apidoc.actions())


def test_maas_names_uris_and_params():
    doc = apidoc.document("http://10.0.0.1:5240")
    by_name = {r["name"]: r for r in doc["resources"]}
    rack = by_name["RackControllerHandler"]["auth"]
    assert rack["path"] == "/MAAS/api/2.0/rackcontrollers/{system_id}/"
    assert rack["uri"] == "http://10.0.0.1:5240/MAAS/api/2.0/rackcontrollers/{system_id}/"
    assert rack["params"] == ["system_id"]
    token = next(
        a
        for a in by_name["AccountHandler"]["auth"]["actions"]
        if a["op"] == "create_authorisation_token"
    )
    assert (token["method"], token["name"], token["restful"]) == (
        "POST",
        "create_authorisation_token",
        False,
    )
    assert ":param name: Optional." in token["doc"]
    selection = by_name["BootSourceSelectionHandler"]["auth"]
    assert selection["params"] == ["boot_source_id", "id"]
    version = by_name["VersionHandler"]
    assert version["anon"] is not None and version["auth"] is None
    assert doc["handlers"] and doc["hash"] == apidoc.api_hash()
    assert apidoc.maas_version() == "3.4.6"


def test_one_description_per_simulated_release_all_of_the_same_shape():
    assert apidoc.releases() == sorted(maas_host.VERSIONS.values())

    def shape(release):
        return [
            (
                r["name"],
                r["admin_only"],
                r["anon"] is None,
                apidoc.handler_of(r)["path"],
                apidoc.handler_of(r)["params"],
                [(a["method"], a["op"], a["name"]) for a in apidoc.handler_of(r)["actions"]],
            )
            for r in apidoc.description(release)["resources"]
        ]

    for release in apidoc.releases():
        assert apidoc.maas_version(release) == release
        assert shape(release) == shape(apidoc.DEFAULT_RELEASE)
    old = apidoc.document("http://h", "2.9.2")
    assert old["hash"] != apidoc.document("http://h", "3.7.3")["hash"]


def test_routes_resolve_most_specific_first():
    def route(path):
        return next(name for pattern, name in apidoc.routes() if pattern.match(path))

    assert route("boot-sources/1/selections/2/") == "BootSourceSelectionHandler"
    assert route("boot-sources/1/selections/") == "BootSourceSelectionsHandler"
    assert route("boot-sources/1/") == "BootSourceHandler"
    assert route("rackcontrollers/abc123/") == "RackControllerHandler"
    assert route("version/") == "VersionHandler"
