"""The layers hold: read from the static import graph of ``billing``, lazy imports included.

- domain, contract and services never import the HTTP layer, the CLI or a web framework;
- domain imports only domain and errors; contract imports no use case, adapter or database module;
- adapters and db never import a use case (nor the composition root);
- the HTTP layer and the CLI are separate doors: neither imports the other;
- no two modules of ``billing`` import each other, directly or through others.

Every ``import`` statement counts wherever it stands (module level, inside a function, under
``TYPE_CHECKING``), because a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import billing
import pytest

ROOT = Path(billing.__file__).parent
WEB = ("billing.http", "billing.cli", "flask", "functions_framework", "werkzeug")
USE_CASE_FREE = ("billing.adapters", "billing.db")
EXCLUDED = ("billing.db.migrations",)  # Alembic revisions: frozen history, never imported by code


def _module_name(path: Path) -> str:
    parts = ["billing", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    found = {_module_name(p): p for p in ROOT.rglob("*.py")}
    return {name: path for name, path in found.items() if not name.startswith(EXCLUDED)}


def _resolve(name: str) -> str:
    """The ``billing`` module an import names (an attribute import resolves to its module)."""
    while name not in modules() and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def imported_names(path: Path, module: str) -> Iterator[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


@cache
def graph() -> dict[str, frozenset[str]]:
    edges: dict[str, frozenset[str]] = {}
    for module, path in modules().items():
        targets = {_resolve(n) for n in imported_names(path, module) if n == "billing" or n.startswith("billing.")}
        edges[module] = frozenset(t for t in targets if t in modules() and t != module)
    return edges


def _in(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _all_imports(module: str) -> set[str]:
    return set(imported_names(modules()[module], module))


CORE = [m for m in modules() if _in(m, ("billing.domain", "billing.contract", "billing.services"))]
OUTER = [m for m in modules() if _in(m, USE_CASE_FREE)]


def test_the_graph_sees_the_whole_package() -> None:
    assert {"billing.services.ingest.batch", "billing.http.entry", "billing.cli", "billing.domain.gateway"} <= set(
        modules()
    )
    assert "billing.services.delivery.dispatch" in graph()["billing.services.delivery.sender"]


@pytest.mark.parametrize("module", CORE)
def test_use_cases_and_the_domain_know_no_web_layer(module: str) -> None:
    offending = sorted(n for n in _all_imports(module) if _in(n, WEB))
    assert not offending, f"{module} imports {offending}"


@pytest.mark.parametrize("module", OUTER)
def test_adapters_and_db_import_no_use_case(module: str) -> None:
    offending = sorted(n for n in _all_imports(module) if _in(n, ("billing.services", "billing.bootstrap")))
    assert not offending, f"{module} imports {offending}"


DOMAIN = [m for m in modules() if _in(m, ("billing.domain",))]
CONTRACT = [m for m in modules() if _in(m, ("billing.contract",))]
DOORS = [(m, "billing.cli") for m in modules() if _in(m, ("billing.http",))] + [
    (m, "billing.http") for m in modules() if _in(m, ("billing.cli",))
]


@pytest.mark.parametrize("module", DOMAIN)
def test_the_domain_depends_only_on_itself_and_the_exception_tree(module: str) -> None:
    ours = {n for n in _all_imports(module) if n == "billing" or n.startswith("billing.")}
    offending = sorted(n for n in ours if not _in(n, ("billing.domain", "billing.errors")))
    assert not offending, f"{module} imports {offending}"


@pytest.mark.parametrize("module", CONTRACT)
def test_the_contract_knows_no_use_case_adapter_or_database(module: str) -> None:
    banned = ("billing.services", "billing.adapters", "billing.db", "billing.bootstrap", *WEB)
    offending = sorted(n for n in _all_imports(module) if _in(n, banned))
    assert not offending, f"{module} imports {offending}"


@pytest.mark.parametrize(("module", "other_door"), DOORS)
def test_the_http_layer_and_the_cli_do_not_call_each_other(module: str, other_door: str) -> None:
    offending = sorted(n for n in _all_imports(module) if _in(n, (other_door,)))
    assert not offending, f"{module} imports {offending}"


def find_cycle(edges: dict[str, frozenset[str]]) -> list[str] | None:
    """One import cycle as a path that ends where it starts, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (cycle := visit(start)) is not None:
            return cycle
    return None


def test_no_import_cycle_anywhere_in_billing() -> None:
    cycle = find_cycle(graph())
    assert cycle is None, " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    edges = {"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset({"a"}), "d": frozenset()}
    assert find_cycle(edges) == ["a", "b", "c", "a"]
    assert find_cycle({"a": frozenset({"b"}), "b": frozenset()}) is None
