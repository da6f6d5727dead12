"""Table-driven tests (MetalK8s style): the cases live in a YAML file next to the test."""

import pathlib

import pytest
import yaml


def load_cases(test_file: str, name: str) -> list:
    """Return ``pytest.param`` objects for the cases in ``<dir of test_file>/cases/<name>.yaml``.

    The file holds a list of mappings; each needs an ``id`` (the test id) and may hold any
    other keys, passed to the test as one dict.
    """
    path = pathlib.Path(test_file).parent / "cases" / f"{name}.yaml"
    cases = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(cases, list) or not cases:
        raise ValueError(f"{path}: expected a non-empty list of cases")
    seen = set()
    params = []
    for case in cases:
        case_id = case.get("id")
        if not case_id or case_id in seen:
            raise ValueError(f"{path}: every case needs a unique 'id' (got {case_id!r})")
        seen.add(case_id)
        params.append(pytest.param(case, id=case_id))
    return params
