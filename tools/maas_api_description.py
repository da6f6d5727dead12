#!/usr/bin/env python3
"""Generate kubesalt/sim/maas/api_description/<release>.json from canonical/maas's source.

The MAAS simulator publishes, at ``/MAAS/api/2.0/describe/``, the same description document
a real region serves (``maasserver/api/doc.py``: ``_describe_api``), restricted to the
handlers and actions the simulator implements. Real clients (python-libmaas, the ``maas``
CLI) bind to that document by handler name (``MachinesHandler`` -> ``Machines``), URI
template and action name, so those must be MAAS's own.

This script reads MAAS's Python source *statically* (``ast``; nothing of MAAS is imported
or copied): the URL patterns of ``src/maasserver/urls_api.py``, and for each handler class
in ``src/maasserver/api/*.py`` its docstring, its CRUD methods and its ``@operation``
actions (inherited ones included, following the class bases), and renders each action's
doc as ``_describe_actions`` does (annotated docstrings become ``:param name: ...``
lines, which the ``maas`` CLI turns into its help). Only the generated JSON is committed.

    git clone https://github.com/canonical/maas && git -C maas checkout 3.4.6
    python tools/maas_api_description.py --maas-src maas/src --tag 3.4.6

or straight from a git directory: ``--git-dir /path/to/maas.git --tag 3.4.6``. The committed
files are 2.9.2, 3.4.6 and 3.7.3: the releases the simulator reports for its versions.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import subprocess
import sys
from pathlib import Path

API_PREFIX = "/MAAS/api/2.0/"
CRUD = {"read": "GET", "create": "POST", "update": "PUT", "delete": "DELETE"}
TAGS = (
    "description-title",
    "description",
    "param-example",
    "param",
    "success-example",
    "success",
    "error-example",
    "error",
)
API_DIR = ["src/maasserver/api/"]
OUTPUT_DIR = Path(__file__).resolve().parent.parent / "kubesalt/sim/maas/api_description"

# handler class -> the actions the simulator implements, as (method, op) with op None for
# CRUD. Keep in step with the dispatch table of kubesalt/sim/maas/regiond.py (a unit test
# checks both agree).
SIMULATED = {
    "VersionHandler": [("GET", None)],
    "UsersHandler": [("GET", None), ("GET", "whoami")],
    "AccountHandler": [
        ("POST", "create_authorisation_token"),
        ("GET", "list_authorisation_tokens"),
        ("POST", "delete_authorisation_token"),
        ("POST", "update_token_name"),
    ],
    "MaasHandler": [("GET", "get_config"), ("POST", "set_config")],
    "BootSourcesHandler": [("GET", None), ("POST", None)],
    "BootSourceHandler": [("GET", None), ("PUT", None), ("DELETE", None)],
    "BootSourceSelectionsHandler": [("GET", None), ("POST", None)],
    "BootSourceSelectionHandler": [("GET", None), ("PUT", None), ("DELETE", None)],
    "BootResourcesHandler": [
        ("GET", None),
        ("POST", "import"),
        ("POST", "stop_import"),
        ("GET", "is_importing"),
    ],
    "BootResourceHandler": [("GET", None), ("DELETE", None)],
    "RackControllersHandler": [("GET", None), ("POST", "import_boot_images")],
    "RackControllerHandler": [
        ("GET", None),
        ("DELETE", None),
        ("POST", "import_boot_images"),
        ("GET", "list_boot_images"),
    ],
    "RegionControllersHandler": [("GET", None)],
    "RegionControllerHandler": [("GET", None)],
    "MachinesHandler": [("GET", None), ("POST", None), ("POST", "allocate")],
    "MachineHandler": [
        ("GET", None),
        ("PUT", None),
        ("DELETE", None),
        ("POST", "commission"),
        ("POST", "deploy"),
        ("POST", "release"),
        ("POST", "abort"),
        ("POST", "mark_broken"),
        ("POST", "mark_fixed"),
    ],
    "EventsHandler": [("GET", "query")],
    "TagsHandler": [("GET", None), ("POST", None)],
    "TagHandler": [("GET", None), ("DELETE", None), ("POST", "update_nodes")],
    "ResourcePoolsHandler": [("GET", None), ("POST", None)],
}


class Source:
    """MAAS's source tree, from a directory or a git object store at a tag."""

    def __init__(self, src_dir: Path | None, git_dir: Path | None, tag: str):
        self.src_dir, self.git_dir, self.tag = src_dir, git_dir, tag

    def read(self, relpath: str) -> str:
        if self.src_dir:
            return (self.src_dir / relpath).read_text()
        return subprocess.run(
            ["git", "--git-dir", str(self.git_dir), "show", f"{self.tag}:src/{relpath}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    def api_modules(self) -> list[str]:
        if self.src_dir:
            return sorted(
                f"maasserver/api/{p.name}" for p in (self.src_dir / "maasserver/api").glob("*.py")
            )
        listing = subprocess.run(
            ["git", "--git-dir", str(self.git_dir), "ls-tree", "--name-only", self.tag, *API_DIR],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        return sorted(p[len("src/") :] for p in listing if p.endswith(".py"))


def url_patterns(text: str) -> dict[str, str]:
    """Resource variable -> URL regex, from urls_api.py (``re_path``/``url`` calls)."""
    tree = ast.parse(text)
    patterns = {}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", None) in ("re_path", "url")
            and len(node.args) >= 2
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[1], ast.Name)
        ):
            patterns.setdefault(node.args[1].id, node.args[0].value)
    return patterns


def resources(text: str) -> dict[str, tuple[str, str]]:
    """Resource variable -> (resource class, handler class), from urls_api.py."""
    out = {}
    for node in ast.parse(text).body:
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Call)
            and node.value.args
            and isinstance(node.value.args[0], ast.Name)
        ):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    out[target.id] = (ast.unparse(node.value.func), node.value.args[0].id)
    return out


def uri_template(pattern: str) -> tuple[str, list[str]]:
    params = re.findall(r"\(\?P<(\w+)>[^)]*\)", pattern)
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", pattern).lstrip("^").rstrip("$")
    return API_PREFIX + path, params


class ClassInfo:
    def __init__(self, node: ast.ClassDef):
        self.name = node.name
        self.bases = [ast.unparse(b).split(".")[-1] for b in node.bases]
        self.doc = ast.get_docstring(node)
        self.functions: dict[str, ast.FunctionDef] = {}
        self.nulled: set[str] = set()  # ``create = update = None`` disables a CRUD method
        self.attrs: dict[str, ast.expr] = {}
        for item in node.body:
            if isinstance(item, ast.FunctionDef):
                self.functions[item.name] = item
            elif isinstance(item, ast.Assign):
                for target in item.targets:
                    if isinstance(target, ast.Name):
                        self.attrs[target.id] = item.value
                        if isinstance(item.value, ast.Constant) and item.value.value is None:
                            self.nulled.add(target.id)


def operation_of(func: ast.FunctionDef) -> tuple[str, str] | None:
    for deco in func.decorator_list:
        if isinstance(deco, ast.Call) and getattr(deco.func, "id", None) == "operation":
            kwargs = {k.arg: k.value for k in deco.keywords}
            idempotent = kwargs.get("idempotent", deco.args[0] if deco.args else None)
            method = "GET" if getattr(idempotent, "value", False) else "POST"
            exported = kwargs.get("exported_as")
            return method, exported.value if exported is not None else func.name
    return None


def mro(name: str, classes: dict[str, ClassInfo]) -> list[ClassInfo]:
    """Depth-first, left-to-right bases (enough for MAAS's handler hierarchies)."""
    seen, order = set(), []

    def visit(cls_name):
        if cls_name in seen or cls_name not in classes:
            return
        seen.add(cls_name)
        order.append(classes[cls_name])
        for base in classes[cls_name].bases:
            visit(base)

    visit(name)
    return order


def exports(name: str, classes: dict[str, ClassInfo]) -> dict[tuple[str, str | None], str]:
    """(method, op) -> docstring of every action the handler exports."""
    chain = mro(name, classes)
    found: dict[tuple[str, str | None], str] = {}
    for crud, method in CRUD.items():
        for cls in chain:
            if crud in cls.functions:
                found[(method, None)] = ast.get_docstring(cls.functions[crud]) or ""
                break
            if crud in cls.nulled:
                break
    for cls in reversed(chain):  # nearer classes override their bases' operations
        for func in cls.functions.values():
            signature = operation_of(func)
            if signature:
                found[signature] = ast.get_docstring(func) or ""
    return found


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def render_action_doc(doc: str) -> str:
    """The CLI form of an annotated docstring (title, description, ``:param`` lines)."""
    if not any(f"@{tag}" in doc for tag in TAGS):
        return doc
    title, description, params = "", "", []
    # Each annotation: @tag (type) "name" [options] free text up to the next annotation.
    for match in re.finditer(r"@([a-z\-]+)(.*?)(?=\n\s*@[a-z\-]+[\s(]|\Z)", doc, re.S):
        tag, rest = match.group(1), match.group(2)
        ttype = re.match(r"\s*\(([\w\-]+)\)", rest)
        if ttype:
            rest = rest[ttype.end() :]
        tname = re.match(r"\s*[\"']([\w\-{}]+)[\"']", rest)
        if tname:
            rest = rest[tname.end() :]
        opts = re.match(r"\s*\[([\w\-=/;,.~]+)\]", rest)
        if opts:
            rest = rest[opts.end() :]
        if tag == "description-title":
            title = _clean(rest)
        elif tag == "description":
            description = rest.strip("\n").rstrip()
            description = "\n".join(line.strip() for line in description.splitlines())
        elif tag == "param" and tname and "{" not in tname.group(1):
            options = dict(o.split("=", 1) for o in opts.group(1).split(",")) if opts else {}
            required = "Optional. " if options.get("required") == "false" else "Required. "
            kind = (ttype.group(1) if ttype else "").title().replace("-", " ")
            kind = {"Url String": "URL String", "Json": "JSON"}.get(kind, kind)
            params.append((tname.group(1), required + rest.strip().rstrip(), kind))
    out = (title + "\n\n" if title else "") + description.strip() + "\n\n"
    for pname, text, kind in params:
        out += f":param {pname}: {text}\n:type {pname}: {kind}\n\n "
    return out


def describe_handler(cls: ClassInfo, path: str, params: list[str], classes) -> dict:
    wanted = SIMULATED[cls.name]
    available = exports(cls.name, classes)
    missing = [w for w in wanted if w not in available]
    if missing:
        raise SystemExit(f"{cls.name}: MAAS has no action {missing} at this version")
    actions = []
    for method, op in sorted(wanted, key=lambda s: (s[0], s[1] or "")):
        actions.append(
            {
                "method": method,
                "name": op or {v: k for k, v in CRUD.items()}[method],
                "doc": render_action_doc(available[(method, op)]),
                "op": op,
                "restful": op is None,
            }
        )
    return {
        "actions": sorted(actions, key=lambda a: a["name"]),
        "doc": cls.doc,
        "name": cls.name,
        "params": params,
        "path": path,
    }


def generate(source: Source) -> dict:
    classes: dict[str, ClassInfo] = {}
    for module in source.api_modules():
        for node in ast.parse(source.read(module)).body:
            if isinstance(node, ast.ClassDef):
                classes.setdefault(node.name, ClassInfo(node))
    urls = source.read("maasserver/urls_api.py")
    patterns = url_patterns(urls)
    handler_of = resources(urls)
    out = []
    for variable, (resource_cls, handler) in sorted(handler_of.items()):
        if handler not in SIMULATED or variable not in patterns:
            continue
        path, params = uri_template(patterns[variable])
        described = describe_handler(classes[handler], path, params, classes)
        anonymous = resource_cls == "OperationsResource"  # no authentication at all
        out.append(
            {
                "anon": described if anonymous else None,
                "auth": None if anonymous else described,
                "name": handler,
                "admin_only": resource_cls == "AdminRestrictedResource",
            }
        )
    absent = set(SIMULATED) - {r["name"] for r in out}
    if absent:
        raise SystemExit(f"not found in urls_api.py: {sorted(absent)}")
    return {
        "maas_version": source.tag,
        "generated_by": "tools/maas_api_description.py",
        "resources": sorted(out, key=lambda r: r["name"]),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--maas-src", type=Path, help="the src/ directory of a MAAS checkout")
    where.add_argument("--git-dir", type=Path, help="a canonical/maas git directory")
    parser.add_argument("--tag", required=True, help="the MAAS release read, e.g. 3.4.6")
    parser.add_argument("--output", type=Path, help="default: OUTPUT_DIR/<tag>.json")
    args = parser.parse_args(argv)
    args.output = args.output or OUTPUT_DIR / f"{args.tag}.json"
    doc = generate(Source(args.maas_src, args.git_dir, args.tag))
    args.output.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    print(f"{args.output}: {len(doc['resources'])} handlers from MAAS {args.tag}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
