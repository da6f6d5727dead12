"""Plan a resource change the way the plugin SDK v2 (and the plugin framework) do.

Terraform core sends the prior state, the config and its proposed new state (config values,
with prior values kept for computed attributes the config leaves null). The provider answers
with the planned state and the attribute paths that force a replacement. The rules
reproduced here, from ``helper/schema`` of terraform-plugin-sdk v2 (``schemaMap.Diff``,
``GRPCProviderServer.PlanResourceChange``):

* an optional attribute with a ``Default`` that the config leaves null plans the default;
* an optional + computed block the config leaves out keeps the prior value (unknown on create);
* a ``StateFunc`` stores a transformation (``user_data`` keeps its SHA-1, a rule's
  ``remote_ip_prefix`` is lower-cased): the plan shows and compares the transformed value;
  a top-level config value that already equals the stored one (what core sends for an
  attribute in ``lifecycle.ignore_changes``: the prior value) plans no change, as the real
  provider does for ``ignore_changes = [user_data]``;
* on create every computed attribute the config leaves null, ``id`` included, is unknown;
* on update, a changed ``ForceNew`` attribute (at any depth, a changed element of a
  ``ForceNew`` block included) adds its path to ``requires_replace``; a replacement plans a new
  object, so every computed attribute not set in config becomes unknown again;
* ``CustomizeDiff`` ``ForceNewIfChange(x, old == "")`` of the compute instance.
"""

from __future__ import annotations

import copy
import hashlib
import json

from kubesalt.cloud.values import UNKNOWN


def state_func(name: str, value):
    if value is None or value is UNKNOWN:
        return value
    if name == "sha1_hex":
        return hashlib.sha1(value.encode()).hexdigest()  # noqa: S324 (the provider's choice)
    if name == "lower":
        return value.lower()
    if name == "json_normalize":
        try:
            return json.dumps(json.loads(value), sort_keys=True, separators=(",", ":"))
        except ValueError:
            return value
    raise ValueError(f"unknown StateFunc {name}")


def _each_block_value(block: dict, value: dict, config: dict | None, visit) -> None:
    """Call ``visit(block, value, config)`` on ``value`` and on every nested block value,
    with the config of the same element (lists and sets by position)."""
    visit(block, value, config)
    for name, nested in block["blocks"].items():
        items = value.get(name)
        config_items = None if config is None else config.get(name)
        if items is None or items is UNKNOWN:
            continue
        if nested["nesting"] == "single":
            _each_block_value(nested["block"], items, config_items, visit)
            continue
        for index, item in enumerate(items):
            item_config = None
            if isinstance(config_items, list) and index < len(config_items):
                item_config = config_items[index]
            _each_block_value(nested["block"], item, item_config, visit)


def _apply_defaults_and_state_funcs(block: dict, value: dict, config: dict | None) -> None:
    for name, spec in block["attributes"].items():
        configured = None if config is None else config.get(name)
        if "default" in spec and configured is None and value.get(name) is None:
            value[name] = spec["default"]
        if "state_func" in spec and configured is not None and configured is not UNKNOWN:
            value[name] = state_func(spec["state_func"], configured)


def _mark_computed_unknown(block: dict, value: dict, config: dict | None) -> None:
    """Computed attributes the config leaves null become unknown."""
    for name, spec in block["attributes"].items():
        configured = None if config is None else config.get(name)
        if spec.get("computed") and configured is None and "default" not in spec:
            value[name] = UNKNOWN


def _defaults_and_state_funcs(block: dict, value: dict, config: dict | None) -> None:
    _each_block_value(block, value, config, _apply_defaults_and_state_funcs)


def _unknown_computed(block: dict, value: dict, config: dict | None) -> None:
    _each_block_value(block, value, config, _mark_computed_unknown)


def _keep_stored_values(block: dict, planned: dict, prior: dict | None, config) -> None:
    """A StateFunc attribute whose config value is the stored (transformed) prior value."""
    if prior is None or config is None:
        return
    for name, spec in block["attributes"].items():
        stored = prior.get(name)
        if "state_func" in spec and stored is not None and config.get(name) == stored:
            planned[name] = stored


def _force_new_paths(block: dict, prior, planned, path: list) -> list[list]:
    """Paths of ForceNew attributes (and blocks) whose planned value differs from prior."""
    paths: list[list] = []
    prior = prior or {}
    for name, spec in block["attributes"].items():
        if not spec.get("force_new"):
            continue
        old, new = prior.get(name), planned.get(name)
        if new is UNKNOWN or _differs(old, new, spec.get("computed")):
            if new is UNKNOWN and old is not None and not spec.get("computed"):
                paths.append([*path, name])
            elif new is not UNKNOWN:
                paths.append([*path, name])
    for name, nested in block["blocks"].items():
        old_items, new_items = prior.get(name), planned.get(name)
        if nested["nesting"] == "single":
            paths += _force_new_paths(nested["block"], old_items, new_items or {}, [*path, name])
            continue
        old_items = old_items or []
        new_items = new_items or []
        if nested.get("force_new") and _differs(old_items, new_items, nested.get("computed")):
            paths.append([*path, name])
            continue
        if nested["nesting"] == "set":
            if old_items != new_items:
                # a set element has no stable index: its change shows on the set
                if _any_force_new(nested["block"]) and _set_elements_differ(old_items, new_items):
                    paths.append([*path, name])
            continue
        for index, new_item in enumerate(new_items):
            old_item = old_items[index] if index < len(old_items) else None
            if old_item is None:
                if _any_force_new(nested["block"]) and old_items:
                    paths.append([*path, name])
                    break
                continue
            paths += _force_new_paths(nested["block"], old_item, new_item, [*path, name, index])
        if len(old_items) > len(new_items) and _any_force_new(nested["block"]):
            paths.append([*path, name])
    return paths


def _set_elements_differ(old_items: list, new_items: list) -> bool:
    def canon(items):
        return sorted(json.dumps(item, sort_keys=True, default=repr) for item in items)

    return canon(old_items) != canon(new_items)


def _any_force_new(block: dict) -> bool:
    return any(spec.get("force_new") for spec in block["attributes"].values()) or any(
        nested.get("force_new") or _any_force_new(nested["block"])
        for nested in block["blocks"].values()
    )


def _differs(old, new, computed: bool | None) -> bool:
    if new is UNKNOWN:
        return False
    if computed and new is None:
        return False
    if old in (None, "") and new in (None, ""):
        return False
    return old != new


def _computed_blocks(block: dict, planned: dict, prior: dict | None, config: dict | None) -> None:
    """An optional+computed block the config leaves out keeps what the API returned (SDK: no
    diff for ``name.#``), and is unknown on create. Core cannot know (blocks have no
    ``computed`` flag on the wire), so its proposal has them empty."""
    for name, nested in block["blocks"].items():
        if not nested.get("computed") or nested["nesting"] == "single":
            continue
        configured = None if config is None else config.get(name)
        if configured:
            continue
        planned[name] = UNKNOWN if prior is None else copy.deepcopy(prior.get(name))


def plan(resource: dict, prior: dict | None, proposed: dict | None, config: dict | None):
    """Return ``(planned_state, requires_replace_paths)``."""
    block = resource["block"]
    if proposed is None:  # destroy
        return None, []
    planned = copy.deepcopy(proposed)
    _defaults_and_state_funcs(block, planned, config)
    _keep_stored_values(block, planned, prior, config)
    _computed_blocks(block, planned, prior, config)
    if prior is None:
        _unknown_computed(block, planned, config)
        return planned, []
    requires_replace = _force_new_paths(block, prior, planned, [])
    for name in resource.get("force_new_if_old_empty", ()):
        if (
            prior.get(name) == ""
            and planned.get(name) not in (None, "", UNKNOWN)
            and planned.get(name) != ""
        ):
            requires_replace.append([name])
    if requires_replace:
        _unknown_computed(block, planned, config)
        if resource.get("framework") and "id" in block["attributes"]:
            planned["id"] = UNKNOWN
    elif resource.get("framework") and planned != prior:
        _unknown_computed(block, planned, config)
    return planned, requires_replace
