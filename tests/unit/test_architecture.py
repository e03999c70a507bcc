"""The shape of the code, checked: domain packages import each other without cycles, and only
``app.customers`` names the ``customers`` table."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app"
# Table definitions are shared by every package (and import none of their logic).
NOT_DOMAIN = {"models"}


def domain_packages() -> set[str]:
    return {
        p.name
        for p in APP.iterdir()
        if p.is_dir() and (p / "__init__.py").exists() and p.name not in NOT_DOMAIN
    }


def import_graph() -> dict[str, dict[str, set[str]]]:
    """``{package: {imported package: {files importing it}}}`` over every import statement,
    including the ones inside functions."""
    packages = domain_packages()
    graph: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for path in APP.rglob("*.py"):
        parts = path.relative_to(APP).parts
        if len(parts) < 2 or parts[0] not in packages:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                target = name.split(".")
                inner = target[0] == "app" and len(target) > 1 and target[1] in packages
                if inner and target[1] != parts[0]:
                    graph[parts[0]][target[1]].add(str(path.relative_to(APP)))
    return graph


def cycles(graph: dict[str, dict[str, set[str]]]) -> list[list[str]]:
    """Strongly connected components of more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(domain_packages()):
        if node not in index:
            visit(node)
    return found


def test_domain_packages_import_each_other_without_cycles() -> None:
    graph = import_graph()
    found = cycles(graph)
    detail = [
        {a: {b: sorted(graph[a][b]) for b in graph[a] if b in component} for a in component}
        for component in found
    ]
    assert found == [], detail


def test_the_cycle_check_finds_a_cycle() -> None:
    graph: dict[str, dict[str, set[str]]] = {
        "customers": {"events": {"x"}},
        "events": {"health": {"y"}},
        "health": {"customers": {"z"}},
    }
    assert cycles(graph) == [["customers", "events", "health"]]


# SQL that reads or writes the table by name, or the ORM model of its rows.
_TABLE = re.compile(r"\b(from|join|update|into|table)\s+customers\b(?!_)", re.IGNORECASE)
_MODEL = re.compile(r"\bimport\b[^\n]*\bCustomer\b(?!\w)")


def customer_table_users() -> list[str]:
    out = []
    for path in APP.rglob("*.py"):
        relative = path.relative_to(APP)
        if relative.parts[0] in {"customers", "models"}:
            continue
        text = path.read_text()
        for pattern in (_TABLE, _MODEL):
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                out.append(f"{relative}:{line}: {match.group(0)}")
    return sorted(out)


def test_only_the_customers_package_queries_the_customers_table() -> None:
    assert customer_table_users() == []


def test_the_table_check_sees_sql_and_the_model() -> None:
    assert _TABLE.search("SELECT 1 FROM customers c WHERE")
    assert _TABLE.search("update  customers set")
    assert not _TABLE.search("FROM customer_status_changes k")
    assert not _TABLE.search("FROM customers_x")
    assert _MODEL.search("from app.models import Customer, Event")
    assert not _MODEL.search("from app.models import CustomerStatusChange")
