"""Planning by the SDK's rules (kubesalt.cloud.plan) against the generated schemas."""

import copy

import pytest

from kubesalt.cloud import plan as planner
from kubesalt.cloud.values import UNKNOWN
from kubesalt.cloud.values import load_schemas
from tests.support.cases import load_cases


def _proposed(block, prior, config):
    """What Terraform core proposes: config, with prior values for computed attributes the
    config leaves null (objects.ProposedNew, attributes only)."""
    proposed = {}
    for name, spec in block["attributes"].items():
        value = config.get(name)
        if value is None and spec.get("computed") and prior is not None:
            value = prior.get(name)
        proposed[name] = value
    for name in block["blocks"]:
        proposed[name] = copy.deepcopy(config.get(name))
        if prior is not None and proposed[name] and prior.get(name):
            for index, item in enumerate(proposed[name]):
                if index < len(prior[name]):
                    nested = block["blocks"][name]["block"]
                    proposed[name][index] = _proposed(nested, prior[name][index], item)
    return proposed


def _complete(block, value):
    if value is None:
        return None
    out = {name: value.get(name) for name in block["attributes"]}
    for name, nested in block["blocks"].items():
        items = value.get(name)
        out[name] = None if items is None else [_complete(nested["block"], item) for item in items]
    return out


@pytest.mark.parametrize("case", load_cases(__file__, "plan"))
def test_plan(case):
    schema = load_schemas(case.get("provider", "openstack"))["resources"][case["resource"]]
    block = schema["block"]
    prior = _complete(block, case.get("prior"))
    config = _complete(block, case["config"])
    planned, replace = planner.plan(schema, prior, _proposed(block, prior, config), config)
    for name in case.get("unknown", []):
        assert planned[name] is UNKNOWN, f"{name} should be unknown, is {planned[name]!r}"
    for name, value in case.get("planned", {}).items():
        assert planned[name] == value, name
    if "replace" in case:
        assert replace == case["replace"]


def test_destroy_plans_null():
    schema = load_schemas("openstack")["resources"]["openstack_networking_network_v2"]
    assert planner.plan(schema, {"id": "n"}, None, None) == (None, [])
