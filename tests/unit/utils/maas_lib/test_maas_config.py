"""maas_lib.config: values normalised so comparisons converge (table-driven)."""

import pytest

from maas_lib import config
from tests.support.cases import load_cases


@pytest.mark.parametrize("case", load_cases(__file__, "normalize"))
def test_normalize(case):
    assert config.normalize(case["name"], case["value"]) == case["expected"]


@pytest.mark.parametrize("case", load_cases(__file__, "normalize_errors"))
def test_normalize_rejects(case):
    with pytest.raises(ValueError, match=case["error"]):
        config.normalize(case["name"], case["value"])


@pytest.mark.parametrize("case", load_cases(__file__, "wire"))
def test_to_wire(case):
    assert config.to_wire(case["name"], case["value"]) == case["expected"]


@pytest.mark.parametrize("case", load_cases(__file__, "diff"))
def test_diff(case):
    assert config.diff(case["wanted"], case["current"]) == case["expected"]


@pytest.mark.parametrize("name", ["maas_url", "rpc_shared_secret", "", None])
def test_validate_name_refuses_non_api_settings(name):
    with pytest.raises(ValueError):
        config.validate_name(name)
