"""Loading the demo: a tenant with a plan catalog and a year of synthetic history, through the
same ingest path as the API (validation, idempotency, folding, scoring)."""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.db import Database
from app.demo.generator import PLANS, FlowAction, generate
from app.errors import HoldfastError
from app.events.schemas import EVENT_ADAPTER
from app.events.service import ingest
from app.health.freshness import drain_tenant
from app.health.jobs import backfill_snapshots
from app.models import CancellationFlow, Tenant
from app.offers.flows import service as flow_service
from app.onboarding import create_tenant
from app.plans.schemas import PlanPut
from app.plans.service import put_plan
from app.tenants.service import create_api_key, revoke_keys_named

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


# The keys `holdfast demo` mints (and revokes when it runs again).
DEMO_KEY_NAMES = ("initial admin key", "demo admin", "demo dashboard")


def _iso_key(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def _run_flow(database: Database, tenant_id: uuid.UUID, action: FlowAction) -> None:
    """Replay one customer's cancellation flow at its moment in the history. A flow that cannot
    start (the customer is not a subscriber then) or was already replayed is skipped."""
    try:
        async with database.sessionmaker() as session, session.begin():
            replayed = await session.scalar(
                select(CancellationFlow.id).where(
                    CancellationFlow.tenant_id == tenant_id,
                    CancellationFlow.customer_id == action.customer,
                    CancellationFlow.created_at == action.at,
                )
            )
            if replayed is not None:
                return
            started = await flow_service.start_flow(
                session,
                tenant_id,
                action.customer,
                reason=action.reason,
                comment=None,
                now=action.at,
            )
        flow = started.flow
        if flow.status != "open" or action.decision == "abandon":
            return
        decided_at = action.at + timedelta(minutes=7)
        async with database.sessionmaker() as session, session.begin():
            if action.decision == "accept" and flow.offers_shown:
                await flow_service.accept_offer(
                    session,
                    tenant_id,
                    flow.id,
                    offer_id=uuid.UUID(flow.offers_shown[0]["offer_id"]),
                    months=None,
                    now=decided_at,
                )
            elif action.decision == "decline":
                await flow_service.decline_flow(
                    session, tenant_id, flow.id, effective_at=None, now=decided_at
                )
    except HoldfastError:
        return


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
            # Keys are stored hashed and cannot be shown again: the previous run's keys are
            # revoked, so only the pair printed now is valid.
            await revoke_keys_named(session, tenant_id, DEMO_KEY_NAMES)
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
    history = generate(customers, months=months, seed=seed, end=end, flows=True)
    total = len(history.events)
    accepted = duplicates = 0
    flows = list(history.flows)
    done = 0
    while done < total:
        # Events up to the next flow (at most a batch), then that flow: a flow sees the
        # customer exactly as the history had it at that moment.
        limit = min(done + BATCH, total)
        if flows:
            upto = _iso_key(flows[0].at)
            while limit > done and history.events[limit - 1]["occurred_at"] > upto:
                limit -= 1
        if limit > done:
            events = [EVENT_ADAPTER.validate_python(e) for e in history.events[done:limit]]
            async with database.sessionmaker() as session, session.begin():
                result = await ingest(session, tenant_id, events, source="demo")
            accepted += sum(o.status == "accepted" for o in result.outcomes)
            duplicates += sum(o.status == "duplicate" for o in result.outcomes)
            done = limit
            report(done, total, "events")
        while flows and (
            done == total or history.events[done]["occurred_at"] > _iso_key(flows[0].at)
        ):
            await _run_flow(database, tenant_id, flows.pop(0))

    async with database.sessionmaker() as session, session.begin():
        await flow_service.expire_overdue_flows(session, tenant_id)
    steps = 13
    report(0, steps, "health history")
    await backfill_snapshots(database, tenant_id, days=7 * steps, step_days=7)
    report(steps - 1, steps, "health history")
    # Every loaded customer was marked for scoring: materialise them all now.
    await drain_tenant(database, tenant_id)
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
