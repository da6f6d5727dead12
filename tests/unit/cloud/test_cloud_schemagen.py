"""The schema generator (kubesalt.cloud.schemagen) and the schema files it wrote."""

import json
import os
import pathlib

import hcl2
import pytest

from kubesalt.cloud import schemagen
from kubesalt.cloud.values import DATA
from kubesalt.cloud.values import load_schemas
from tests.support.cases import load_cases
from tests.support.paths import REPO_ROOT

# Where a checkout of the real provider may be (the `fetch` mirror, or a clone named by
# $KUBESALT_OPENSTACK_PROVIDER_GIT): the committed file must be what the generator makes.
MIRRORS = {
    "openstack": (
        "KUBESALT_OPENSTACK_PROVIDER_GIT",
        "/work/.mirror/terraform-provider-openstack+terraform-provider-openstack/repo",
    ),
    "tls": ("KUBESALT_TLS_PROVIDER_GIT", "/work/.mirror/hashicorp+terraform-provider-tls/repo"),
}


@pytest.mark.parametrize("case", load_cases(__file__, "schemagen"))
def test_generator(case):
    source = schemagen.Source({"thing.go": case["go"]})
    generator = schemagen.Generator(source)
    if "error" in case:
        with pytest.raises(schemagen.GenError, match=case["error"]):
            generator.resource(case["resource"], "resource")
        return
    block = generator.resource(case["resource"], "resource")["block"]
    assert block["attributes"] == case.get("attributes", block["attributes"])
    assert block["blocks"] == case["blocks"]


def _types_used_by_root_module():
    resources, data_sources = set(), set()
    for path in (REPO_ROOT / "terraform").glob("*.tf"):
        parsed = hcl2.loads(path.read_text())
        for item in parsed.get("resource", []):
            resources |= {name.strip('"') for name in item}
        for item in parsed.get("data", []):
            data_sources |= {name.strip('"') for name in item}
    return resources, data_sources


# Terraform's built-in provider (terraform.io/builtin/terraform) serves these in every
# Terraform; no lab provider needs to.
BUILTIN_RESOURCES = {"terraform_data"}


def test_schema_covers_every_type_of_the_root_module():
    resources, data_sources = _types_used_by_root_module()
    resources -= BUILTIN_RESOURCES
    served = set(load_schemas("openstack")["resources"]) | set(load_schemas("tls")["resources"])
    assert resources <= served, f"the lab providers lack {sorted(resources - served)}"
    assert data_sources <= set(load_schemas("openstack")["data_sources"])
    # and nothing more: the generator's list is exactly what the module uses
    assert set(schemagen.RESOURCES) == {r for r in resources if r.startswith("openstack_")}


def test_schema_is_pinned_to_a_3x_tag():
    openstack = load_schemas("openstack")
    assert openstack["tag"].startswith("v3.") and len(openstack["commit"]) == 40
    versions = (REPO_ROOT / "terraform" / "versions.tf").read_text()
    assert '"~> 3.0"' in versions and '"~> 4.0"' in versions
    assert load_schemas("tls")["tag"].startswith("v4.")


def test_facts_issue_11_depends_on():
    instance = load_schemas("openstack")["resources"]["openstack_compute_instance_v2"]["block"]
    user_data = instance["attributes"]["user_data"]
    assert user_data["force_new"] and user_data["state_func"] == "sha1_hex"
    device = instance["blocks"]["block_device"]["block"]["attributes"]
    assert all(spec.get("force_new") for spec in device.values())
    assert instance["attributes"]["image_id"].get("computed") and not instance["attributes"][
        "image_id"
    ].get("force_new")
    pool = load_schemas("openstack")["resources"]["openstack_networking_floatingip_v2"]["block"][
        "attributes"
    ]["pool"]
    assert pool["required"] and pool["default_env"] == ["OS_POOL_NAME"]


@pytest.mark.parametrize("provider", sorted(MIRRORS))
def test_committed_schema_is_what_the_generator_makes(provider, tmp_path):
    variable, default = MIRRORS[provider]
    git_dir = os.environ.get(variable) or default
    if not pathlib.Path(git_dir).is_dir():
        pytest.skip(f"no checkout of the {provider} provider (set {variable})")
    committed = load_schemas(provider)
    out = tmp_path / "schema.json"
    args = [
        "--git-dir",
        git_dir,
        "--provider",
        provider,
        "--tag",
        committed["tag"],
        "--out",
        str(out),
    ]
    assert schemagen.main(args) == 0
    assert json.loads(out.read_text()) == json.loads((DATA / f"{provider}-schema.json").read_text())
