"""The lab providers: ``terraform-provider-openstack/openstack`` and ``hashicorp/tls``.

Each provider answers the plugin protocol's calls (:mod:`kubesalt.cloud.plugin`) from the
generated schema of the real provider (``data/*-schema.json``). :class:`Base` holds what every
resource shares: validation the SDK does from the schema (required, conflicts, simple
validators) and filling the values an API returns (every still-unknown computed attribute gets
the value the real provider reads back).
"""

from __future__ import annotations

import copy

from kubesalt.cloud.plugin import ProviderError
from kubesalt.cloud.values import UNKNOWN
from kubesalt.cloud.values import load_schemas


def _empty(type_):
    if type_ == "string":
        return ""
    if type_ == "number":
        return 0
    if type_ == "bool":
        return False
    kind = type_[0]
    return {} if kind == "map" else None if kind == "object" else []


def settle(block: dict, value: dict, view: dict) -> dict:
    """``value`` with every unknown replaced: from ``view`` (what the API returned), else the
    zero value the SDK stores for an attribute the API left empty."""
    out = copy.deepcopy(value)
    for name, spec in block["attributes"].items():
        if name in view and (
            out.get(name) is UNKNOWN or (out.get(name) is None and spec.get("computed"))
        ):
            out[name] = view[name]
        if out.get(name) is UNKNOWN:
            out[name] = _empty(spec["type"])
    for name, nested in block["blocks"].items():
        items = out.get(name)
        if items is UNKNOWN:
            out[name] = view.get(name, [])
            continue
        if name in view and nested.get("computed") and not items:
            out[name] = view[name]
            continue
        if items is None:
            continue
        if nested["nesting"] == "single":
            out[name] = settle(nested["block"], items, {})
            continue
        views = view.get(name) or []
        out[name] = [
            settle(nested["block"], item, views[index] if index < len(views) else {})
            for index, item in enumerate(items)
        ]
    return out


def known(value):
    """``value`` with unknowns as null: what the API request is built from at apply time."""
    if value is UNKNOWN:
        return None
    if isinstance(value, dict):
        return {key: known(item) for key, item in value.items()}
    if isinstance(value, list):
        return [known(item) for item in value]
    return value


class Base:
    name = "base"
    schema_file = ""

    def __init__(self):
        self.schemas = load_schemas(self.schema_file)

    # --- the SDK's schema checks (ValidateResourceConfig) -------------------------------
    def validate(self, schema: dict, config: dict | None) -> list[ProviderError]:
        errors: list[ProviderError] = []
        if config is None:
            return errors
        self._validate_block(schema["block"], config, [], errors)
        return errors

    def _validate_block(self, block: dict, config: dict, path: list, errors: list) -> None:
        for name, spec in block["attributes"].items():
            value = config.get(name)
            if value is None or value is UNKNOWN:
                continue
            here = [*path, name]
            for other in spec.get("conflicts_with", ()):
                other_value = config.get(other.split(".")[-1])
                if (
                    other_value not in (None, UNKNOWN)
                    and other_value != []
                    and len(other.split(".")) == 1
                ):
                    errors.append(
                        ProviderError(
                            "Conflicting configuration arguments",
                            f'"{name}": conflicts with {other}',
                            here,
                        )
                    )
            for other in spec.get("required_with", ()):
                if config.get(other) is None:
                    errors.append(
                        ProviderError(
                            "Missing required argument",
                            f'"{name}": all of '
                            f"`{','.join(sorted([name, *spec['required_with']]))}` "
                            "must be specified",
                            here,
                        )
                    )
                    break
            rule = spec.get("validate") or {}
            if "one_of" in rule and isinstance(value, str):
                allowed = rule["one_of"]
                matches = (
                    value.lower() in [a.lower() for a in allowed]
                    if rule.get("ignore_case")
                    else value in allowed
                )
                if not matches:
                    errors.append(
                        ProviderError(
                            "Invalid value",
                            f"expected {name} to be one of {allowed}, got {value}",
                            here,
                        )
                    )
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                if ("min" in rule and value < rule["min"]) or (
                    "max" in rule and value > rule["max"]
                ):
                    errors.append(
                        ProviderError(
                            "Invalid value",
                            f"expected {name} to be in the range ({rule.get('min')} - "
                            f"{rule.get('max')}), got {value}",
                            here,
                        )
                    )
        for name, nested in block["blocks"].items():
            items = config.get(name)
            if not items or items is UNKNOWN:
                continue
            if nested["nesting"] == "single":
                self._validate_block(nested["block"], items, [*path, name], errors)
                continue
            for index, item in enumerate(items):
                if item is not UNKNOWN:
                    self._validate_block(nested["block"], item, [*path, name, index], errors)

    # --- hooks the concrete providers implement ------------------------------------------
    def configure(self, config: dict) -> None:
        pass

    def plan_check(self, type_name: str, planned: dict, prior: dict | None) -> None:
        pass

    def read(self, type_name: str, state: dict) -> dict | None:
        return state

    def create(self, type_name: str, planned: dict, config: dict) -> dict:
        raise NotImplementedError

    def update(self, type_name: str, prior: dict, planned: dict, config: dict) -> dict:
        return settle(self.schemas["resources"][type_name]["block"], planned, prior)

    def delete(self, type_name: str, prior: dict) -> None:
        pass

    def read_data(self, type_name: str, config: dict) -> dict:
        raise ProviderError(f"data source {type_name} is not supported")
