"""Cancellation flows: start one (rank the offers, or hold them out), decide it (accept an offer
or decline), and let undecided ones lapse. Everything goes into the caller's transaction;
nothing here commits.

Rules worth knowing (the README has the API view):

* Only an active or paused subscriber can start a flow (409 otherwise).
* A customer has at most one open flow. Starting again with the same reason returns the open
  flow unchanged (a retry after a timeout must not show new offers or count twice); a
  different reason is a 409 naming the open flow: decide it first, or wait for it to lapse.
* A flow not decided within 24 h is abandoned. The row is rewritten lazily: when the flow or
  its customer's flows are read, when the customer starts a new flow, and by
  :func:`expire_overdue_flows` (run on every flow start and report for the whole tenant).
  Every reader treats an overdue open flow as abandoned even before that.
* Decisions are idempotent: the same decision again returns the flow as it is (nothing is
  applied twice; the events carry deterministic idempotency keys); a different decision, or
  any decision on an abandoned flow, is a 409.
* Accepting applies the offer through the ingestion path (``source="flow"``), so state,
  history, health and metrics see it exactly like a billing system's own events.
* Every ending (accepted, declined, abandoned) queues ``cancellation_flow.completed`` in the
  same transaction.

Lock order, so concurrent flows, decisions and ingestion cannot deadlock: the customer row
first, then the flow row; sweeps skip rows that are locked instead of waiting.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.customers.fold import SUBSCRIBED, project
from app.customers.service import lifecycle_from_row
from app.errors import Conflict, InvalidInput, NotFound
from app.events.schemas import EVENT_ADAPTER
from app.events.service import ingest
from app.health.scoring import score_customers
from app.ids import uuid7
from app.models import CancellationFlow
from app.offers import repository as offers
from app.offers.flows import repository
from app.offers.flows.decisions import (
    EVENT_SOURCE,
    FLOW_TTL,
    CustomerSnapshot,
    DecisionError,
    apply_offer,
    customer_facts,
    decline_event,
    effective_status,
    same_acceptance,
    same_decline,
    shown_offer,
)
from app.offers.report import offer_save_stats
from app.offers.rules import MAX_WINDOW_DAYS, in_holdout, rank_offers
from app.offers.service import get_offer_settings
from app.plans.repository import plan_catalog
from app.webhooks.service import enqueue

COMPLETED = "cancellation_flow.completed"
MAX_DECLINE_DELAY = timedelta(days=400)
"""A decline may take effect later (the end of the paid period: up to a year for annual plans),
but not further ahead than this."""


@dataclass(frozen=True)
class StartedFlow:
    flow: CancellationFlow
    created: bool


def _snapshot(customer: dict[str, Any], now: datetime) -> CustomerSnapshot:
    state = project(lifecycle_from_row(customer), now)
    return CustomerSnapshot(
        status=state.status,
        plan=state.plan,
        plan_mrr=state.plan_mrr,
        mrr=state.mrr,
        currency=state.currency,
        subscribed_at=state.subscribed_at,
        cancel_effective_at=state.cancel_effective_at,
        discount_until=state.discount_until,
        discount_base_mrr=state.discount_base_mrr,
    )


def completed_payload(flow: CancellationFlow) -> dict[str, Any]:
    """The ``data`` of ``cancellation_flow.completed``: what the billing system must apply."""
    offer = None
    if flow.accepted_offer_id is not None:
        shown = next(
            (o for o in flow.offers_shown if o["offer_id"] == str(flow.accepted_offer_id)), {}
        )
        offer = {
            "offer_id": flow.accepted_offer_id,
            "kind": flow.accepted_kind,
            "title": shown.get("title"),
            "params": flow.accepted_params or {},
        }
    return {
        "flow_id": flow.id,
        "customer_id": flow.customer_id,
        "reason": flow.reason,
        "comment": flow.comment,
        "variant": flow.variant,
        "outcome": flow.status,
        "offer": offer,
        "cancel_effective_at": flow.cancel_effective_at,
        "decided_at": flow.decided_at,
        "event_ids": flow.applied_event_ids,
    }


async def expire_overdue_flows(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    now: datetime | None = None,
    flow_id: uuid.UUID | None = None,
    customer_id: str | None = None,
) -> int:
    """Mark the tenant's open flows that expired by ``now`` (only ``flow_id``'s, or only
    ``customer_id``'s, when given) abandoned, and queue their webhooks; returns how many."""
    now = now or datetime.now(UTC)
    lapsed = await repository.mark_abandoned(
        session, tenant_id, now, flow_id=flow_id, customer_id=customer_id
    )
    for flow in lapsed:
        await enqueue(session, tenant_id, COMPLETED, completed_payload(flow), now=now)
    return len(lapsed)


async def start_flow(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    customer_id: str,
    *,
    reason: str,
    comment: str | None,
    now: datetime | None = None,
) -> StartedFlow:
    """Start a flow for a customer who wants to cancel, or return its open one (see the module
    docstring). Offers: the eligible ones ranked by :func:`app.offers.rules.rank_offers` with
    save rates measured on this tenant's flows; none in the holdout."""
    now = now or datetime.now(UTC)
    customer = await repository.lock_customer(session, tenant_id, customer_id)
    if customer is None:
        raise NotFound(f"No customer {customer_id!r} in this tenant.")
    snapshot = _snapshot(customer, now)
    if snapshot.status not in SUBSCRIBED:
        raise Conflict(
            f"Customer {customer_id!r} is {snapshot.status}: only active or paused subscribers "
            "can start a cancellation flow.",
            extra={"customer_status": snapshot.status},
        )
    await expire_overdue_flows(session, tenant_id, now=now)
    existing = await repository.open_flow(session, tenant_id, customer_id, now)
    if existing is not None:
        if existing.reason == reason:
            return StartedFlow(existing, created=False)
        raise Conflict(
            f"Customer {customer_id!r} has an open cancellation flow {existing.id} with reason "
            f"{existing.reason!r}; accept or decline it first (it lapses at "
            f"{existing.expires_at.isoformat()}).",
            extra={"flow_id": str(existing.id)},
        )

    settings = await get_offer_settings(session, tenant_id)
    variant = (
        "holdout" if in_holdout(tenant_id, customer_id, settings.holdout_share_bp) else "treatment"
    )
    scored = (await score_customers(session, tenant_id, [customer_id], now=now)).get(customer_id)
    health_score = scored.result.score if scored is not None else None
    health_tier = scored.result.tier if scored is not None else None
    since = now - timedelta(days=MAX_WINDOW_DAYS)
    facts = customer_facts(
        snapshot,
        now=now,
        reason=reason,
        health_score=health_score,
        health_tier=health_tier,
        pause_times=await repository.pause_times(session, tenant_id, customer_id, since, now),
        accepted_offers=await repository.accepted_offers(
            session, tenant_id, customer_id, since, now
        ),
    )
    specs = await offers.offer_specs(session, tenant_id)
    if snapshot.plan is None:
        # A discount is recorded as a plan change on the current plan: without one, it could
        # not be applied.
        specs = [spec for spec in specs if spec.kind != "discount"]
    ranked = rank_offers(
        specs,
        facts,
        await plan_catalog(session, tenant_id),
        await offer_save_stats(session, tenant_id, reason, now, settings.keep_days),
    )
    eligible = [shown_offer(offer) for offer in ranked]
    flow = CancellationFlow(
        tenant_id=tenant_id,
        id=uuid7(),
        customer_id=customer_id,
        reason=reason,
        comment=comment,
        status="open",
        variant=variant,
        offers_shown=eligible if variant == "treatment" else [],
        offers_withheld=eligible if variant == "holdout" else [],
        created_at=now,
        expires_at=now + FLOW_TTL,
        customer_status=snapshot.status,
        plan=snapshot.plan,
        plan_mrr=snapshot.plan_mrr,
        mrr=snapshot.mrr,
        currency=snapshot.currency,
        health_score=health_score,
        health_tier=health_tier,
        applied_event_ids=[],
        applied_event_keys=[],
    )
    session.add(flow)
    await session.flush()
    return StartedFlow(flow, created=True)


async def get_flow(
    session: AsyncSession, tenant_id: uuid.UUID, flow_id: uuid.UUID, *, now: datetime | None = None
) -> CancellationFlow:
    now = now or datetime.now(UTC)
    await expire_overdue_flows(session, tenant_id, now=now, flow_id=flow_id)
    flow = await repository.get_flow(session, tenant_id, flow_id)
    if flow is None:
        raise _flow_not_found(flow_id)
    return flow


async def list_customer_flows(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    customer_id: str,
    *,
    limit: int,
    now: datetime | None = None,
) -> Sequence[CancellationFlow]:
    now = now or datetime.now(UTC)
    if not await repository.customer_exists(session, tenant_id, customer_id):
        raise NotFound(f"No customer {customer_id!r} in this tenant.")
    await expire_overdue_flows(session, tenant_id, now=now, customer_id=customer_id)
    return await repository.list_flows(session, tenant_id, customer_id, limit)


def _flow_not_found(flow_id: uuid.UUID) -> NotFound:
    return NotFound(f"No cancellation flow {flow_id} in this tenant.")


async def _lock_flow(
    session: AsyncSession, tenant_id: uuid.UUID, flow_id: uuid.UUID
) -> tuple[CancellationFlow, dict[str, Any]]:
    """The flow and its customer's row, both locked (customer first: the lock order)."""
    flow = await repository.get_flow(session, tenant_id, flow_id)
    if flow is None:
        raise _flow_not_found(flow_id)
    customer = await repository.lock_customer(session, tenant_id, flow.customer_id)
    locked = await repository.get_flow(session, tenant_id, flow_id, for_update=True)
    # The customer row cascades to its flows: both exist once the flow was found.
    assert customer is not None and locked is not None
    return locked, customer


def _decided_conflict(flow: CancellationFlow, status: str, attempted: str) -> Conflict:
    if status == "abandoned":
        detail = (
            f"Cancellation flow {flow.id} was abandoned: it was not decided within 24 hours "
            f"(by {flow.expires_at.isoformat()}). Start a new flow."
        )
    else:
        detail = f"Cancellation flow {flow.id} was already {status}; it cannot be {attempted}."
    return Conflict(detail, extra={"flow_status": status})


async def _record(
    session: AsyncSession, tenant_id: uuid.UUID, bodies: Sequence[dict[str, Any]]
) -> tuple[list[uuid.UUID], list[str]]:
    """Ingest the decision's events; their ids and idempotency keys, in order."""
    if not bodies:
        return [], []
    events = [EVENT_ADAPTER.validate_python(body) for body in bodies]
    result = await ingest(session, tenant_id, events, source=EVENT_SOURCE)
    for outcome in result.outcomes:
        if outcome.status not in ("accepted", "duplicate"):
            # Only an event already stored under the flow's own key with other content gets
            # here: a client that posted one of this flow's keys itself.
            raise Conflict(
                "An event with this flow's idempotency key already exists with other content."
            )
    ids = [outcome.id for outcome in result.outcomes if outcome.id is not None]
    return ids, [event.idempotency_key for event in events if event.idempotency_key is not None]


async def accept_offer(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    flow_id: uuid.UUID,
    *,
    offer_id: uuid.UUID,
    months: int | None,
    now: datetime | None = None,
) -> CancellationFlow:
    """Accept one of the offers the flow showed and apply it
    (:func:`app.offers.flows.decisions.apply_offer`)."""
    now = now or datetime.now(UTC)
    flow, customer = await _lock_flow(session, tenant_id, flow_id)
    status = effective_status(flow.status, flow.expires_at, now)
    if status == "accepted" and same_acceptance(
        flow.accepted_offer_id, flow.accepted_params, offer_id, months
    ):
        return flow
    if status != "open":
        raise _decided_conflict(flow, status, "accepted")
    shown = next((o for o in flow.offers_shown if o["offer_id"] == str(offer_id)), None)
    if shown is None:
        raise InvalidInput(
            f"Offer {offer_id} was not shown in cancellation flow {flow.id}"
            + (" (a holdout flow shows no offer)." if flow.variant == "holdout" else "."),
            errors=[{"loc": ["body", "offer_id"], "msg": "not shown in this flow"}],
        )
    snapshot = _snapshot(customer, now)
    if snapshot.status not in SUBSCRIBED:
        raise Conflict(
            f"Customer {flow.customer_id!r} is {snapshot.status} now; an offer can only be "
            "applied to a subscriber.",
            extra={"customer_status": snapshot.status},
        )
    try:
        application = apply_offer(
            shown,
            flow_id=flow.id,
            customer_id=flow.customer_id,
            customer=snapshot,
            now=now,
            months=months,
        )
    except DecisionError as exc:
        raise InvalidInput(str(exc), errors=[{"loc": exc.loc, "msg": str(exc)}]) from None
    event_ids, event_keys = await _record(session, tenant_id, application.events)
    flow.status = "accepted"
    flow.accepted_offer_id = offer_id
    flow.accepted_kind = shown["kind"]
    flow.accepted_params = application.params
    flow.decided_at = now
    flow.applied_event_ids = event_ids
    flow.applied_event_keys = event_keys
    await session.flush()
    await enqueue(session, tenant_id, COMPLETED, completed_payload(flow), now=now)
    return flow


async def decline_flow(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    flow_id: uuid.UUID,
    *,
    effective_at: datetime | None,
    now: datetime | None = None,
) -> CancellationFlow:
    """Decline every offer: record the customer's ``cancellation`` with the flow's reason and
    comment, effective at ``effective_at`` (default: now)."""
    now = now or datetime.now(UTC)
    flow, _ = await _lock_flow(session, tenant_id, flow_id)
    status = effective_status(flow.status, flow.expires_at, now)
    if status == "declined" and same_decline(flow.cancel_effective_at, effective_at):
        return flow
    if status != "open":
        raise _decided_conflict(flow, status, "declined")
    if effective_at is not None and not now <= effective_at <= now + MAX_DECLINE_DELAY:
        raise InvalidInput(
            "effective_at must not be in the past nor more than 400 days ahead.",
            errors=[{"loc": ["body", "effective_at"], "msg": "out of range"}],
        )
    body = decline_event(
        flow_id=flow.id,
        customer_id=flow.customer_id,
        reason=flow.reason,
        comment=flow.comment,
        now=now,
        effective_at=effective_at,
    )
    event_ids, event_keys = await _record(session, tenant_id, [body])
    flow.status = "declined"
    flow.decided_at = now
    flow.cancel_effective_at = effective_at or now
    flow.applied_event_ids = event_ids
    flow.applied_event_keys = event_keys
    await session.flush()
    await enqueue(session, tenant_id, COMPLETED, completed_payload(flow), now=now)
    return flow
