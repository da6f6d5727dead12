"""The simulator packages import one way: no module imports, directly or through others (also
from inside a function), a module that imports it back."""

import ast

import pytest

from tests.support.paths import REPO_ROOT

PACKAGES = ["kubesalt/sim/microk8s", "kubesalt/sim/maas", "kubesalt/lab"]


def _graph(package: str) -> dict:
    """module -> the sibling modules it imports, at module level or inside functions."""
    folder = REPO_ROOT / package
    dotted = package.replace("/", ".")
    siblings = {path.stem for path in folder.glob("*.py")}
    graph = {}
    for path in folder.glob("*.py"):
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == dotted:
                deps |= {alias.name for alias in node.names} & siblings
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(dotted + "."):
                deps.add(node.module[len(dotted) + 1 :].split(".")[0])
            elif isinstance(node, ast.Import):
                deps |= {
                    alias.name[len(dotted) + 1 :].split(".")[0]
                    for alias in node.names
                    if alias.name.startswith(dotted + ".")
                }
        graph[path.stem] = deps - {path.stem}
    return graph


def _cycle(graph: dict) -> list:
    """One import cycle of GRAPH as [a, b, ..., a], or []."""
    done, path = set(), []

    def visit(module):
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return []
        path.append(module)
        for dep in sorted(graph.get(module, ())):
            found = visit(dep)
            if found:
                return found
        path.pop()
        done.add(module)
        return []

    for module in sorted(graph):
        found = visit(module)
        if found:
            return found
    return []


def test_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


@pytest.mark.parametrize("package", PACKAGES)
def test_package_imports_one_way(package):
    graph = _graph(package)
    assert len(graph) > 5, "the package was not read"
    assert _cycle(graph) == [], f"import cycle in {package}"


def _reaches(graph: dict, module: str) -> set:
    """Every sibling ``module`` imports, directly or through others."""
    seen, todo = set(), [module]
    while todo:
        for dep in graph.get(todo.pop(), ()):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def test_maas_region_layers():
    """The simulated region: its entry point (regiond) over HTTP (api) over the domain model
    (region) and form parsing (forms); never the other way."""
    graph = _graph("kubesalt/sim/maas")
    assert {"api", "region"} <= _reaches(graph, "regiond")
    assert {"region", "forms"} <= _reaches(graph, "api")
    assert not {"regiond", "api"} & _reaches(graph, "region")
    assert not {"regiond", "api", "region"} & _reaches(graph, "forms")
