"""Terraform values on the wire (cty msgpack) and the generated schemas that type them.

Types use cty's JSON type notation, which is also what the schema files hold:
``"string"``, ``"number"``, ``"bool"``, ``["list", T]``, ``["set", T]``, ``["map", T]``,
``["object", {name: T}]``. An unknown value (known only after apply) is :data:`UNKNOWN`.
"""

from __future__ import annotations

import functools
import json
import pathlib

import msgpack

DATA = pathlib.Path(__file__).with_name("data")


class _Unknown:
    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __deepcopy__(self, memo):
        return self


UNKNOWN = _Unknown()
# cty encodes an unknown as msgpack extension 0 (and, since Terraform 1.6, a refined unknown
# as extension 12); both decode to UNKNOWN.
_UNKNOWN_EXT = msgpack.ExtType(0, b"\x00")


def decode(raw: bytes):
    if not raw:
        return None

    def ext_hook(code, data):
        if code in (0, 12):
            return UNKNOWN
        return msgpack.ExtType(code, data)

    return msgpack.unpackb(raw, ext_hook=ext_hook, raw=False, strict_map_key=False)


def encode(value, type_) -> bytes:
    return msgpack.packb(conform(value, type_), default=_default, use_bin_type=True)


def _default(obj):
    if obj is UNKNOWN:
        return _UNKNOWN_EXT
    raise TypeError(f"cannot encode {obj!r}")


def conform(value, type_):
    """``value`` shaped as ``type_`` (every object attribute present, numbers as numbers)."""
    if value is None or value is UNKNOWN:
        return value
    if type_ == "string":
        return value if isinstance(value, str) else str(value)
    if type_ == "number":
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, str):
            return int(value) if value.lstrip("-").isdigit() else float(value)
        return value
    if type_ == "bool":
        return bool(value)
    if type_ == "dynamic":
        return value
    kind, inner = type_
    if kind in ("list", "set"):
        return [conform(item, inner) for item in value]
    if kind == "map":
        return {key: conform(item, inner) for key, item in value.items()}
    if kind == "object":
        return {name: conform(value.get(name), attr_type) for name, attr_type in inner.items()}
    raise ValueError(f"unknown type {type_!r}")


def block_type(block: dict):
    """The object type a block's values have."""
    attributes = {name: spec["type"] for name, spec in block["attributes"].items()}
    for name, nested in block["blocks"].items():
        inner = block_type(nested["block"])
        attributes[name] = inner if nested["nesting"] == "single" else [nested["nesting"], inner]
    return ["object", attributes]


@functools.cache
def load_schemas(name: str) -> dict:
    """The generated schema file ``kubesalt/cloud/data/<name>-schema.json``."""
    with open(DATA / f"{name}-schema.json", encoding="utf-8") as handle:
        return json.load(handle)


def json_type(type_) -> bytes:
    """A type in cty's JSON notation, as the plugin protocol carries it."""
    return json.dumps(type_, separators=(",", ":")).encode()
