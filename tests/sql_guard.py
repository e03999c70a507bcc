"""A guard over the SQL the app really issues during the tests: what Citus refuses on
distributed tables must not come back on plain PostgreSQL either.

``conftest.py`` records every statement (SQLAlchemy's cursor events, and asyncpg's query logger
for the hot paths that talk to the driver directly) and fails a test whose statements break a
rule. ``problems`` is the check itself, on one statement's text:

- no function that is not IMMUTABLE (``now()``, ``clock_timestamp()``, ``random()``, ...,
  and ``CURRENT_TIMESTAMP``-like keywords) in ``ON CONFLICT ... DO UPDATE SET``;
- no bind parameter in the ``DO UPDATE SET`` of an ``INSERT ... SELECT``;
- no such function inside ``COALESCE``/``CASE``/``GREATEST``/``LEAST`` in an ``UPDATE``'s SET;
- every ``FOR UPDATE``/``FOR SHARE`` (``SKIP LOCKED`` or not) has a ``tenant_id = <one value>``;
- every ``UPDATE``/``DELETE`` of a tenant-owned table has a ``tenant_id = <one value>``;
- no subquery inside ``INSERT ... VALUES``.

It reads SQL with regular expressions and a parenthesis counter, not a parser: enough for the
statements this code base writes, and each rule has unit tests (``tests/unit/test_sql_guard.py``)
with the shapes it must catch.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import MetaData

from app.models.distribution import tenant_tables

# Known not IMMUTABLE; the session adds every such function name from pg_proc.
NON_IMMUTABLE = frozenset(
    {
        "now",
        "clock_timestamp",
        "statement_timestamp",
        "transaction_timestamp",
        "timeofday",
        "random",
        "gen_random_uuid",
        "uuid_generate_v4",
        "nextval",
        "currval",
        "txid_current",
    }
)
_VALUE_KEYWORDS = re.compile(
    r"\b(current_timestamp|current_date|current_time|localtimestamp|localtime)\b", re.I
)
_CALL = re.compile(r"\b([a-z_][a-z0-9_]*)\s*\(", re.I)
_TENANT_EQUALS = re.compile(
    r"\btenant_id\s*=\s*(\$\d+|:\w+|%\(\w+\)s|'[0-9a-f-]{36}')"
    r"|(\$\d+|:\w+)(::\w+)?\s*=\s*(\w+\.)?tenant_id\b",
    re.I,
)
_LOCKING = re.compile(r"\bFOR\s+(NO\s+KEY\s+UPDATE|UPDATE|KEY\s+SHARE|SHARE)\b", re.I)
_UPSERT_SET = re.compile(r"\bON\s+CONFLICT\b.*?\bDO\s+UPDATE\s+SET\b", re.I | re.S)
_MODIFIED = re.compile(
    r"(?<!\bFOR\s)(?<!\bDO\s)(?<!\bKEY\s)\b(?:UPDATE|DELETE\s+FROM)\s+(?:ONLY\s+)?\"?(\w+)\"?",
    re.I,
)
_UPDATE_SET = re.compile(r"^\s*UPDATE\s+\"?\w+\"?(?:\s+(?:AS\s+)?\w+)?\s+SET\b", re.I)
_WRAPPERS = re.compile(r"\b(coalesce|greatest|least|nullif)\s*\(|\bCASE\b", re.I)
_STRINGS = re.compile(r"'(?:[^']|'')*'")


def _blank_strings(sql: str) -> str:
    """String literals replaced by empty ones, so their text matches no rule."""
    return _STRINGS.sub("''", sql)


def _clause(sql: str, start: int, stops: tuple[str, ...]) -> str:
    """``sql`` from ``start`` up to the first of ``stops`` at parenthesis depth 0."""
    depth = 0
    pattern = re.compile(r"\(|\)|\b(" + "|".join(stops) + r")\b", re.I)
    for match in pattern.finditer(sql, start):
        token = match.group(0)
        if token == "(":
            depth += 1
        elif token == ")":
            if depth == 0:
                return sql[start : match.start()]
            depth -= 1
        elif depth == 0:
            return sql[start : match.start()]
    return sql[start:]


def _parenthesised(sql: str, open_at: int) -> str:
    depth = 0
    for i in range(open_at, len(sql)):
        if sql[i] == "(":
            depth += 1
        elif sql[i] == ")":
            depth -= 1
            if depth == 0:
                return sql[open_at : i + 1]
    return sql[open_at:]


def _non_immutable_in(text: str, non_immutable: Collection[str]) -> list[str]:
    found = [name.lower() for name in _CALL.findall(text) if name.lower() in non_immutable]
    found += [word.upper() for word in _VALUE_KEYWORDS.findall(text)]
    return sorted(set(found))


def _wrapped_parts(clause: str) -> list[str]:
    """The COALESCE/GREATEST/LEAST/NULLIF calls and CASE expressions of ``clause``."""
    parts = []
    for match in _WRAPPERS.finditer(clause):
        if match.group(1):
            parts.append(_parenthesised(clause, match.end() - 1))
        else:
            parts.append(_clause(clause, match.end(), ("END",)))
    return parts


def problems(sql: str, non_immutable: Collection[str], tenant_owned: Collection[str]) -> list[str]:
    """What Citus would refuse in ``sql`` (empty when nothing)."""
    text = _blank_strings(sql)
    found: list[str] = []

    upsert = _UPSERT_SET.search(text)
    if upsert:
        clause = _clause(text, upsert.end(), ("RETURNING", "WHERE"))
        bad = _non_immutable_in(clause, non_immutable)
        if bad:
            found.append(
                f"ON CONFLICT DO UPDATE SET uses {', '.join(bad)}: Citus needs IMMUTABLE "
                "expressions there (pass the time as a parameter or use EXCLUDED.col)"
            )

        inserts_a_select = re.match(r"^\s*INSERT\b", text, re.I) and not re.search(
            r"\bVALUES\b", text[: upsert.start()], re.I
        )
        if inserts_a_select and re.search(r"\$\d+", clause):
            found.append(
                "a parameter in the DO UPDATE SET of an INSERT ... SELECT: Citus sends that "
                "clause to the shards without its parameters (use a constant or EXCLUDED.col)"
            )

    update_set = _UPDATE_SET.search(text)
    if update_set:
        clause = _clause(text, update_set.end(), ("FROM", "WHERE", "RETURNING"))
        bad = sorted(
            {
                name
                for part in _wrapped_parts(clause)
                for name in _non_immutable_in(part, non_immutable)
            }
        )
        if bad:
            found.append(
                f"UPDATE SET uses {', '.join(bad)} inside COALESCE/CASE: Citus refuses "
                "non-IMMUTABLE functions there (pass the value as a parameter)"
            )

    has_tenant = _TENANT_EQUALS.search(text) is not None
    if _LOCKING.search(text) and not has_tenant:
        found.append(
            "FOR UPDATE/SHARE without tenant_id = <one value>: Citus locks rows only in "
            "single-tenant (router) queries"
        )
    if not has_tenant:
        modified = sorted(
            {name for name in _MODIFIED.findall(text) if name.lower() in tenant_owned}
        )
        if modified:
            found.append(f"UPDATE/DELETE of {', '.join(modified)} without tenant_id = <one value>")

    if re.match(r"^\s*INSERT\b", text, re.I):
        values = re.search(r"\bVALUES\s*\(", text, re.I)
        if values and re.search(r"\(\s*SELECT\b", _parenthesised(text, values.end() - 1), re.I):
            found.append("subquery inside INSERT ... VALUES: Citus refuses it (read it first)")
    return found


@dataclass
class StatementLog:
    """Every statement the tests' database connections ran, in order."""

    statements: list[str] = field(default_factory=list)
    non_immutable: set[str] = field(default_factory=lambda: set(NON_IMMUTABLE))
    tenant_owned: set[str] = field(default_factory=set)

    def use_metadata(self, metadata: MetaData) -> None:
        self.tenant_owned = set(tenant_tables(metadata))

    def record(self, statement: str) -> None:
        self.statements.append(statement)

    def record_asyncpg(self, logged: Any) -> None:
        self.statements.append(str(logged.query))

    def problems_since(self, start: int) -> list[str]:
        seen: set[str] = set()
        reports = []
        for statement in self.statements[start:]:
            if statement in seen:
                continue
            seen.add(statement)
            for problem in problems(statement, self.non_immutable, self.tenant_owned):
                reports.append(f"{problem}\n    in: {' '.join(statement.split())[:600]}")
        return reports
