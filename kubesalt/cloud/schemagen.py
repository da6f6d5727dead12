"""Generate the lab provider's schema from the real OpenStack provider's Go source.

``python -m kubesalt.cloud.schemagen --git-dir DIR --tag v3.4.0 --out FILE`` reads the
``schema.Schema`` maps of every resource and data source the root module uses (and the
provider block) from ``openstack/*.go`` at ``--tag`` of a checkout of
``terraform-provider-openstack/terraform-provider-openstack`` and writes the schema Terraform
sees, in the shape the plugin SDK v2 turns them into (``helper/schema/core_schema.go``):

* an attribute per ``schema.Schema`` without a nested ``schema.Resource``; a nested resource is
  a block (LIST/SET), except a computed-only one (an attribute of list/set of objects);
  ``TypeMap`` is always an attribute (a map of strings unless its ``Elem`` says otherwise);
* every resource and data source gets ``id`` (optional + computed string) and, when it declares
  ``Timeouts``, a ``timeouts`` single block with one optional string per declared timeout;
* block ``min_items``/``max_items`` follow the SDK: a required block has at least one, an
  optional one none, a computed-only one no bounds;
* besides the wire schema, what the SDK uses when planning: ``ForceNew``, ``Default``, known
  ``StateFunc`` transformations, ``ConflictsWith``/``RequiredWith``/``ExactlyOneOf``/
  ``AtLeastOneOf``, simple ``ValidateFunc`` forms, ``CustomizeDiff`` ForceNewIfChange.

The generator parses Go composite literals with a small tokenizer; anything it does not
understand in a resource it has to generate is an error naming the file and key, never a guess.
No provider code is copied: only the facts (names, types, flags) land in the output.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys

# Every type the root module (terraform/) uses, by kind.
RESOURCES = (
    "openstack_blockstorage_volume_v3",
    "openstack_compute_instance_v2",
    "openstack_compute_servergroup_v2",
    "openstack_lb_listener_v2",
    "openstack_lb_loadbalancer_v2",
    "openstack_lb_member_v2",
    "openstack_lb_monitor_v2",
    "openstack_lb_pool_v2",
    "openstack_networking_floatingip_v2",
    "openstack_networking_network_v2",
    "openstack_networking_port_v2",
    "openstack_networking_router_interface_v2",
    "openstack_networking_router_v2",
    "openstack_networking_secgroup_rule_v2",
    "openstack_networking_secgroup_v2",
    "openstack_networking_subnet_v2",
)
DATA_SOURCES = (
    "openstack_images_image_v2",
    "openstack_networking_network_v2",
)
PRIMITIVES = {
    "TypeString": "string",
    "TypeInt": "number",
    "TypeFloat": "number",
    "TypeBool": "bool",
}

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<comment>//[^\n]*|/\*.*?\*/)
  | (?P<raw>`[^`]*`)
  | (?P<str>"(?:\\.|[^"\\])*")
  | (?P<rune>'(?:\\.|[^'\\])*')
  | (?P<num>\d+(?:\.\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>:=|\.\.\.|&&|\|\||==|!=|<=|>=|[{}()\[\],:;.&*+\-/<>=!|%^])
    """,
    re.VERBOSE | re.DOTALL,
)


class GenError(RuntimeError):
    """The Go source has a shape the generator does not understand."""


def tokenize(source: str) -> list[tuple[str, str]]:
    tokens = []
    pos = 0
    while pos < len(source):
        match = _TOKEN.match(source, pos)
        if not match:
            raise GenError(f"cannot tokenize Go source at {source[pos : pos + 40]!r}")
        kind = match.lastgroup
        if kind not in ("ws", "comment"):
            tokens.append((kind, match.group()))
        pos = match.end()
    return tokens


class Expr:
    """A parsed Go expression: a composite literal (``fields``/``items``) or opaque text."""

    def __init__(self, text: str, type_name: str | None = None, fields=None, items=None):
        self.text = text
        self.type_name = type_name
        self.fields = fields  # dict for keyed literals
        self.items = items  # list for positional literals

    def __repr__(self) -> str:
        return f"Expr({self.text[:60]!r})"


class Parser:
    def __init__(self, tokens: list[tuple[str, str]]):
        self.tokens = tokens
        self.pos = 0

    def peek(self, offset: int = 0) -> str:
        index = self.pos + offset
        return self.tokens[index][1] if index < len(self.tokens) else ""

    def kind(self, offset: int = 0) -> str:
        index = self.pos + offset
        return self.tokens[index][0] if index < len(self.tokens) else ""

    def take(self) -> str:
        value = self.peek()
        self.pos += 1
        return value

    def skip_balanced(self) -> str:
        """Skip from an opening bracket to its match; return the text."""
        opening = self.take()
        closing = {"{": "}", "(": ")", "[": "]"}[opening]
        depth = 1
        parts = [opening]
        while depth:
            if self.pos >= len(self.tokens):
                raise GenError("unbalanced brackets")
            token = self.take()
            parts.append(token)
            if token == opening:
                depth += 1
            elif token == closing:
                depth -= 1
        return " ".join(parts)

    def expr(self) -> Expr:
        """An expression up to the next top-level ',' or '}' (literals are parsed)."""
        parts: list[str] = []
        type_name = None
        while self.peek() not in (",", "}", ")", ""):
            token = self.peek()
            if token == "func":  # noqa: S105 (a Go token, not a password)
                # a function literal: signature, then a body in braces
                parts.append(self.take())
                while self.peek() != "{":
                    if self.peek() == "(":
                        parts.append(self.skip_balanced())
                    else:
                        parts.append(self.take())
                parts.append(self.skip_balanced())
                continue
            if token == "{" and parts:  # noqa: S105
                # a composite literal of the type written before it
                type_name = "".join(parts).lstrip("&")
                literal = self.literal()
                literal.type_name = type_name
                literal.text = "".join(parts) + literal.text
                return literal
            if token == "{":  # noqa: S105
                literal = self.literal()  # element type elided
                return literal
            if token in ("(", "["):
                parts.append(self.skip_balanced())
                continue
            parts.append(self.take())
        return Expr(" ".join(parts))

    def literal(self) -> Expr:
        start = self.pos
        assert self.take() == "{"
        fields: dict[str, Expr] = {}
        items: list[Expr] = []
        while self.peek() != "}":
            if self.peek(1) == ":" and self.kind() in ("ident", "str"):
                key = self.take()
                self.take()
                key = json.loads(key) if key.startswith('"') else key
                fields[key] = self.expr()
            else:
                items.append(self.expr())
            if self.peek() == ",":
                self.take()
        self.take()
        text = " ".join(token for _, token in self.tokens[start : self.pos])
        return Expr(text, fields=fields, items=items)


def go_string(text: str) -> str:
    text = text.strip()
    if text.startswith('"'):
        return json.loads(text)
    if text.startswith("`"):
        return text[1:-1]
    raise GenError(f"expected a string literal, got {text!r}")


def go_string_list(expr: Expr) -> list[str]:
    # []string{"a", "b"}
    if expr.items is None:
        raise GenError(f"expected a []string literal, got {expr.text!r}")
    return [go_string(item.text) for item in expr.items]


def go_value(text: str):
    text = text.strip()
    if text in ("true", "false"):
        return text == "true"
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if re.fullmatch(r"-?\d+\.\d+", text):
        return float(text)
    if text.startswith(('"', "`")):
        return go_string(text)
    raise GenError(f"unsupported Default value {text!r}")


# StateFunc bodies the lab provider reproduces, recognised by what they call.
STATE_FUNCS = (
    ("sha1.Sum", "sha1_hex"),
    ("strings.ToLower", "lower"),
    ("NormalizeJsonString", "json_normalize"),
)


def state_func_name(text: str, where: str) -> str:
    compact = text.replace(" ", "")
    for needle, name in STATE_FUNCS:
        if needle in compact:
            return name
    raise GenError(f"{where}: unknown StateFunc {text[:80]!r}")


def validate_func(text: str) -> dict | None:
    """The simple ValidateFunc forms: StringInSlice, IntBetween, IntAtLeast."""
    compact = text.replace(" ", "")
    match = re.match(r"validation\.StringInSlice\(\[\]string\{(.*)\},(true|false)\)$", compact)
    if match:
        values = [json.loads(v) for v in re.findall(r'"(?:\\.|[^"\\])*"', match.group(1))]
        return {"one_of": values, "ignore_case": match.group(2) == "true"}
    match = re.match(r"validation\.IntBetween\((-?\d+),(-?\d+)\)$", compact)
    if match:
        return {"min": int(match.group(1)), "max": int(match.group(2))}
    match = re.match(r"validation\.IntAtLeast\((-?\d+)\)$", compact)
    if match:
        return {"min": int(match.group(1))}
    return None


class Source:
    """The Go files of the provider's ``openstack`` package at one tag."""

    def __init__(self, files: dict[str, str]):
        self.files = files
        self._funcs: dict[str, tuple[str, list[tuple[str, str]]]] = {}
        for name, text in files.items():
            for match in re.finditer(
                r"^func (\w+)\(\)\s*\*?schema\.(Resource|Provider)\s*\{", text, re.M
            ):
                self._funcs[match.group(1)] = (name, text[match.start() :])

    def resource_literal(self, func: str) -> tuple[str, Expr]:
        """The ``&schema.Resource{...}`` (or Provider) literal a function returns."""
        if func not in self._funcs:
            raise GenError(f"function {func}() not found in the provider's source")
        filename, text = self._funcs[func]
        tokens = tokenize(text[: _function_end(text)])
        parser = Parser(tokens)
        # find the first `&schema.Resource {` / `&schema.Provider {` after `return` or `:=`
        while parser.pos < len(tokens):
            if (
                parser.peek() == "&"
                and parser.peek(1) == "schema"
                and parser.peek(3) in ("Resource", "Provider")
                and parser.peek(4) == "{"
            ):
                parser.pos += 4
                literal = parser.literal()
                literal.type_name = "schema." + tokens[parser.pos - 1][1]
                return filename, literal
            parser.pos += 1
        raise GenError(f"{func}(): no schema.Resource literal")


def _function_end(text: str) -> int:
    """Index just past the body of the function that starts ``text``."""
    depth = 0
    started = False
    for index, char in enumerate(text):
        if char == "{":
            depth += 1
            started = True
        elif char == "}":
            depth -= 1
            if started and depth == 0:
                return index + 1
    return len(text)


class Generator:
    def __init__(self, source: Source):
        self.source = source

    def resource(self, func: str, kind: str) -> dict:
        filename, literal = self.source.resource_literal(func)
        where = f"{filename}:{func}"
        schema_expr = literal.fields.get("Schema")
        if schema_expr is None or schema_expr.fields is None:
            raise GenError(f"{where}: no Schema map")
        block = self.block(schema_expr, where)
        if "id" not in block["attributes"]:
            block["attributes"]["id"] = {"type": "string", "optional": True, "computed": True}
        timeouts = literal.fields.get("Timeouts")
        if timeouts is not None and kind == "resource":
            names = {
                "Create": "create",
                "Read": "read",
                "Update": "update",
                "Delete": "delete",
                "Default": "default",
            }
            block["blocks"]["timeouts"] = {
                "nesting": "single",
                "block": {
                    "attributes": {
                        names[key]: {"type": "string", "optional": True}
                        for key in (timeouts.fields or {})
                        if key in names
                    },
                    "blocks": {},
                },
            }
        version = literal.fields.get("SchemaVersion")
        result = {"version": int(version.text) if version else 0, "block": block}
        customize = literal.fields.get("CustomizeDiff")
        if customize is not None:
            force_new_if_change = re.findall(
                r'ForceNewIfChange\("(\w+)"', customize.text.replace(" ", "")
            )
            if force_new_if_change:
                # the provider's condition: the old value was empty (flavor deleted)
                result["force_new_if_old_empty"] = sorted(force_new_if_change)
        return result

    def block(self, schema_map: Expr, where: str) -> dict:
        attributes: dict[str, dict] = {}
        blocks: dict[str, dict] = {}
        for name, spec in sorted(schema_map.fields.items()):
            here = f"{where}.{name}"
            fields = self.schema_fields(spec, here)
            type_name = fields["Type"].text.replace(" ", "").removeprefix("schema.")
            elem = fields.get("Elem")
            elem_is_resource = elem is not None and (elem.type_name or "").endswith(
                "schema.Resource"
            )
            optional = _flag(fields, "Optional")
            computed = _flag(fields, "Computed")
            config_mode = fields.get("ConfigMode")
            as_attribute = (
                not elem_is_resource
                or type_name == "TypeMap"
                or (config_mode is not None and "SchemaConfigModeAttr" in config_mode.text)
                or (computed and not optional and not (config_mode and "Block" in config_mode.text))
            )
            if as_attribute:
                attributes[name] = self.attribute(fields, type_name, elem, here)
            else:
                blocks[name] = self.nested_block(fields, type_name, elem, here)
        return {"attributes": attributes, "blocks": blocks}

    def schema_fields(self, spec: Expr, where: str) -> dict[str, Expr]:
        if spec.fields is None:
            # a helper returning *schema.Schema (e.g. `"x": someSchema()`): not used by our types
            raise GenError(f"{where}: schema given as {spec.text!r}, not a literal")
        if "Type" not in spec.fields:
            raise GenError(f"{where}: no Type")
        return spec.fields

    def value_type(self, type_name: str, elem: Expr | None, where: str):
        if type_name in PRIMITIVES:
            return PRIMITIVES[type_name]
        if type_name in ("TypeList", "TypeSet", "TypeMap"):
            collection = {"TypeList": "list", "TypeSet": "set", "TypeMap": "map"}[type_name]
            if elem is None:
                return [collection, "string"]
            if (elem.type_name or "").endswith("schema.Resource"):
                if collection == "map":
                    return ["map", "string"]
                inner = self.block(elem.fields["Schema"], where)
                return [collection, ["object", _object_type(inner)]]
            if (elem.type_name or "").endswith("schema.Schema"):
                inner_type = elem.fields["Type"].text.replace(" ", "").removeprefix("schema.")
                return [collection, self.value_type(inner_type, elem.fields.get("Elem"), where)]
            bare = elem.text.replace(" ", "").removeprefix("schema.")
            if bare in PRIMITIVES:
                return [collection, PRIMITIVES[bare]]
        raise GenError(f"{where}: unsupported type {type_name} / {elem!r}")

    def attribute(self, fields: dict[str, Expr], type_name: str, elem, where: str) -> dict:
        attribute = {"type": self.value_type(type_name, elem, where)}
        # Required with a DefaultFunc (e.g. a floating IP's pool from OS_POOL_NAME) is optional
        # only while the function returns a value: the provider decides when it starts.
        required = _flag(fields, "Required")
        for key, flag in (("required", required), ("optional", _flag(fields, "Optional"))):
            if flag:
                attribute[key] = True
        for key, go in (
            ("computed", "Computed"),
            ("sensitive", "Sensitive"),
            ("force_new", "ForceNew"),
        ):
            if _flag(fields, go):
                attribute[key] = True
        self.extras(attribute, fields, where)
        return attribute

    def extras(self, target: dict, fields: dict[str, Expr], where: str) -> None:
        # `Default: nil` is the SDK's "no default" (e.g. a member's monitor_port)
        if "Default" in fields and fields["Default"].text.strip() != "nil":
            target["default"] = go_value(fields["Default"].text)
        if "DefaultFunc" in fields:
            envs = re.findall(r'"(OS_\w+)"', fields["DefaultFunc"].text)
            if envs:
                target["default_env"] = envs
        if "StateFunc" in fields:
            target["state_func"] = state_func_name(fields["StateFunc"].text, where)
        if "Deprecated" in fields:
            target["deprecated"] = True
        if "DiffSuppressFunc" in fields:
            target["diff_suppress"] = fields["DiffSuppressFunc"].text.strip()
        for go, key in (
            ("ConflictsWith", "conflicts_with"),
            ("RequiredWith", "required_with"),
            ("ExactlyOneOf", "exactly_one_of"),
            ("AtLeastOneOf", "at_least_one_of"),
        ):
            if go in fields:
                target[key] = go_string_list(fields[go])
        if "ValidateFunc" in fields:
            rule = validate_func(fields["ValidateFunc"].text)
            if rule:
                target["validate"] = rule
        for go, key in (("MinItems", "min_items"), ("MaxItems", "max_items")):
            if go in fields and "type" in target and isinstance(target["type"], list):
                target[key] = int(fields[go].text)

    def nested_block(self, fields: dict[str, Expr], type_name: str, elem: Expr, where: str) -> dict:
        nesting = {"TypeList": "list", "TypeSet": "set"}.get(type_name)
        if nesting is None:
            raise GenError(f"{where}: nested resource in {type_name}")
        inner = self.block(elem.fields["Schema"], where)
        min_items = int(fields["MinItems"].text) if "MinItems" in fields else 0
        max_items = int(fields["MaxItems"].text) if "MaxItems" in fields else 0
        required = _flag(fields, "Required")
        optional = _flag(fields, "Optional")
        computed = _flag(fields, "Computed")
        if required and min_items == 0:
            min_items = 1
        if optional and min_items > 0:
            min_items = 0
        if computed and not optional:
            min_items = max_items = 0
        block = {"nesting": nesting, "block": inner}
        if min_items:
            block["min_items"] = min_items
        if max_items:
            block["max_items"] = max_items
        for key, flag in (("required", required), ("optional", optional), ("computed", computed)):
            if flag:
                block[key] = True
        if _flag(fields, "ForceNew"):
            block["force_new"] = True
        self.extras(block, fields, where)
        return block


def _flag(fields: dict[str, Expr], name: str) -> bool:
    return name in fields and fields[name].text.strip() == "true"


def _object_type(block: dict) -> dict:
    types = {name: spec["type"] for name, spec in block["attributes"].items()}
    for name, nested in block["blocks"].items():
        inner = ["object", _object_type(nested["block"])]
        types[name] = inner if nested["nesting"] == "single" else [nested["nesting"], inner]
    return types


def _registered(source: Source) -> tuple[dict[str, str], dict[str, str]]:
    """type name -> Go function, from Provider()'s ResourcesMap and DataSourcesMap."""
    _, provider = source.resource_literal("Provider")
    maps = {}
    for key in ("ResourcesMap", "DataSourcesMap"):
        entries = provider.fields[key].fields
        maps[key] = {
            name: expr.text.replace(" ", "").removesuffix("()") for name, expr in entries.items()
        }
    return maps["ResourcesMap"], maps["DataSourcesMap"]


def generate(files: dict[str, str], tag: str, commit: str) -> dict:
    source = Source(files)
    generator = Generator(source)
    resources, data_sources = _registered(source)
    _, provider = source.resource_literal("Provider")
    provider_block = generator.block(provider.fields["Schema"], "provider.go:Provider")
    out = {
        "source": "github.com/terraform-provider-openstack/terraform-provider-openstack",
        "tag": tag,
        "commit": commit,
        "generator": "kubesalt.cloud.schemagen",
        "provider": {"version": 0, "block": provider_block},
        "resources": {},
        "data_sources": {},
    }
    for name in RESOURCES:
        out["resources"][name] = generator.resource(resources[name], "resource")
    for name in DATA_SOURCES:
        out["data_sources"][name] = generator.resource(data_sources[name], "data")
    return out


# hashicorp/terraform-provider-tls is written with terraform-plugin-framework: its schema is a
# map of typed attribute literals (schema.StringAttribute{...}).
_FRAMEWORK_TYPES = {
    "StringAttribute": "string",
    "Int64Attribute": "number",
    "BoolAttribute": "bool",
    "NumberAttribute": "number",
}
TLS_RESOURCES = {"tls_private_key": "privateKeyResourceSchemaV1"}


def generate_framework(files: dict[str, str], tag: str, commit: str) -> dict:
    """The schema of the tls resources the root module uses (``tls_private_key``)."""
    text = "\n".join(files.values())
    constants = dict(re.findall(r'^\s*(\w+)\s+\w+\s*=\s*"([^"]*)"', text, re.M))
    out = {
        "source": "github.com/hashicorp/terraform-provider-tls",
        "tag": tag,
        "commit": commit,
        "generator": "kubesalt.cloud.schemagen",
        "provider": {"version": 0, "block": {"attributes": {}, "blocks": {}}},
        "resources": {},
        "data_sources": {},
    }
    for type_name, func in TLS_RESOURCES.items():
        match = re.search(rf"^func {func}\(\)\s*schema\.Schema\s*\{{", text, re.M)
        if not match:
            raise GenError(f"{func}() not found in the tls provider's source")
        body = text[match.start() :]
        tokens = tokenize(body[: _function_end(body)])
        parser = Parser(tokens)
        parser.pos = [token for _, token in tokens].index("return")
        while not (
            parser.peek() == "schema" and parser.peek(2) == "Schema" and parser.peek(3) == "{"
        ):
            parser.pos += 1
        parser.pos += 3
        literal = parser.literal()
        attributes = {}
        for name, spec in sorted(literal.fields["Attributes"].fields.items()):
            kind = (spec.type_name or "").removeprefix("schema.")
            if kind not in _FRAMEWORK_TYPES:
                raise GenError(f"{func}.{name}: unsupported framework attribute {kind}")
            fields = spec.fields
            attribute = {"type": _FRAMEWORK_TYPES[kind]}
            for key, go in (
                ("required", "Required"),
                ("optional", "Optional"),
                ("computed", "Computed"),
                ("sensitive", "Sensitive"),
            ):
                if _flag(fields, go):
                    attribute[key] = True
            modifiers = fields.get("PlanModifiers")
            if modifiers is not None and "RequiresReplace()" in modifiers.text.replace(" ", ""):
                attribute["force_new"] = True
            if "Default" in fields:
                default = fields["Default"].text.replace(" ", "")
                static = re.match(r"\w+\.Static\w+\((.*)\)$", default)
                if not static:
                    raise GenError(f"{func}.{name}: unsupported Default {default!r}")
                value = static.group(1)
                constant = re.fullmatch(r"(\w+)\.String\(\)", value)
                attribute["default"] = constants[constant.group(1)] if constant else go_value(value)
            attributes[name] = attribute
        version = literal.fields.get("Version")
        out["resources"][type_name] = {
            "version": int(version.text) if version else 0,
            "framework": True,
            "block": {"attributes": attributes, "blocks": {}},
        }
    return out


def read_tag(git_dir: str, tag: str, package: str = "openstack") -> tuple[dict[str, str], str]:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "--git-dir", git_dir, *args], capture_output=True, text=True, check=True
        ).stdout

    commit = git("rev-parse", f"{tag}^{{commit}}").strip()
    names = [
        name
        for name in git("ls-tree", "--name-only", f"{tag}:{package}").split()
        if name.endswith(".go") and not name.endswith("_test.go")
    ]
    files = {name: git("show", f"{tag}:{package}/{name}") for name in names}
    return files, commit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kubesalt.cloud.schemagen", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--git-dir", required=True, help="a clone of the provider's repository")
    parser.add_argument("--provider", choices=("openstack", "tls"), default="openstack")
    parser.add_argument("--tag", help="default: v3.4.0 (openstack), v4.2.1 (tls)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    tag = args.tag or {"openstack": "v3.4.0", "tls": "v4.2.1"}[args.provider]
    try:
        if args.provider == "openstack":
            files, commit = read_tag(args.git_dir, tag)
            schema = generate(files, tag, commit)
        else:
            files, commit = read_tag(args.git_dir, tag, "internal/provider")
            schema = generate_framework(files, tag, commit)
    except (GenError, subprocess.CalledProcessError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(schema, handle, indent=1, sort_keys=True)
        handle.write("\n")
    print(
        f"{args.out}: {len(schema['resources'])} resources, {len(schema['data_sources'])} data "
        f"sources from {tag}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
