"""Loading the demo: a tenant with a plan catalog and a year of synthetic history, through the
same ingest path as the API (validation, idempotency, folding, scoring)."""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from app.db import Database
from app.demo.generator import PLANS, generate
from app.events.schemas import EVENT_ADAPTER
from app.events.service import ingest
from app.health.jobs import backfill_snapshots, rescore_tenant
from app.models import Tenant
from app.plans.schemas import PlanPut
from app.plans.service import put_plan
from app.tenants.service import create_api_key, create_tenant

DEMO_TENANT = "Holdfast demo"
BATCH = 1000


@dataclass(frozen=True)
class DemoResult:
    tenant_id: uuid.UUID
    read_key: str
    admin_key: str
    events: int
    accepted: int
    duplicates: int
    seconds: float


def progress_bar(
    out: Callable[[str], object] = sys.stderr.write,
) -> Callable[[int, int, str], None]:
    def show(done: int, total: int, label: str) -> None:
        width = 30
        filled = width * done // max(total, 1)
        out(f"\r{label:<22} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        if done >= total:
            out("\n")

    return show


async def load_demo(
    database: Database,
    *,
    customers: int = 2000,
    months: int = 12,
    seed: int = 1,
    progress: Callable[[int, int, str], None] | None = None,
) -> DemoResult:
    """Create (or reuse) the demo tenant and load the seed's history. Running it again stores
    nothing new: every event carries a key derived from the seed."""
    started = time.perf_counter()
    report = progress or (lambda done, total, label: None)
    async with database.sessionmaker() as session, session.begin():
        tenant_id = await session.scalar(
            select(Tenant.id).where(Tenant.name == DEMO_TENANT).order_by(Tenant.created_at)
        )
        if tenant_id is None:
            tenant, admin = await create_tenant(session, DEMO_TENANT)
            tenant_id = tenant.id
            admin_key = admin.plaintext
        else:
            admin_key = (
                await create_api_key(session, tenant_id, name="demo admin", scopes=["admin"])
            ).plaintext
        read_key = (
            await create_api_key(session, tenant_id, name="demo dashboard", scopes=["read"])
        ).plaintext
        for plan_id, name, price in PLANS:
            await put_plan(
                session, tenant_id, plan_id, PlanPut(name=name, price=price, currency="USD")
            )

    # Whole days: the same seed gives the same history all day long.
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    history = generate(customers, months=months, seed=seed, end=end)
    total = len(history.events)
    accepted = duplicates = 0
    for i in range(0, total, BATCH):
        events = [EVENT_ADAPTER.validate_python(e) for e in history.events[i : i + BATCH]]
        async with database.sessionmaker() as session, session.begin():
            result = await ingest(session, tenant_id, events, source="demo")
        accepted += sum(o.status == "accepted" for o in result.outcomes)
        duplicates += sum(o.status == "duplicate" for o in result.outcomes)
        report(min(i + BATCH, total), total, "events")

    steps = 13
    report(0, steps, "health history")
    await backfill_snapshots(database, tenant_id, days=7 * steps, step_days=7)
    report(steps - 1, steps, "health history")
    await rescore_tenant(database, tenant_id)
    report(steps, steps, "health history")
    return DemoResult(
        tenant_id=tenant_id,
        read_key=read_key,
        admin_key=admin_key,
        events=total,
        accepted=accepted,
        duplicates=duplicates,
        seconds=time.perf_counter() - started,
    )
