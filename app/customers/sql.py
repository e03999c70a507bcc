"""SQL fragments through which other packages read customer rows set-based, and the lifecycle
rules of ``app.customers.fold`` that SQL needs, written once.

The customers package owns the ``customers`` table: other packages never name it. A set-based
query elsewhere (metrics, signals, the health list) reads the tenant's rows as the relation
:func:`tenant_customers` and the status now as :func:`projected_status`, so every reader is
found by one import, and a change of the row's meaning is made here. The rules are held equal
to ``fold.py`` by tests (``tests/api/test_customer_sql.py``).
"""

from __future__ import annotations

from app.customers.fold import LIFECYCLE_TYPES

# Event types whose order matters for the lifecycle fold (the others only add to totals).
LIFECYCLE_TYPES_SQL = "(" + ", ".join(f"'{t}'" for t in sorted(LIFECYCLE_TYPES)) + ")"


def tenant_customers(tenant_param: str) -> str:
    """The tenant's customer rows as a relation, e.g. ``FROM {tenant_customers(':t')} c``."""
    # A bind parameter's name, never a value: nothing from a request reaches this text.
    return f"(SELECT * FROM customers WHERE tenant_id = {tenant_param})"  # noqa: S608


def projected_status(alias: str, now_param: str) -> str:
    """The status of customer row ``alias`` at ``now_param``: ``fold.project`` in SQL. A due
    cancellation wins over everything (it ends a pause too); a pause whose end has passed is
    over."""
    c = alias
    return f"""(CASE
  WHEN {c}.status IN ('active', 'paused') AND {c}.cancel_effective_at IS NOT NULL
       AND {c}.cancel_effective_at <= {now_param} THEN 'cancelled'
  WHEN {c}.status = 'paused' AND {c}.paused_until IS NOT NULL AND {c}.paused_until <= {now_param}
       THEN 'active'
  ELSE {c}.status
END)"""
