"""Lifecycle signals: the tenant's settings, and the scan that announces each signal once.

:func:`scan_signals` runs in the caller's transaction and never commits. It finds the
candidates of every enabled signal with one set-based statement each, records them in
``signal_emissions`` with ``INSERT ... ON CONFLICT DO NOTHING``, and enqueues webhooks only for
the records it actually inserted: a repeated scan finds nothing new, and of two concurrent
scans the second waits for the first's records and skips them. The webhooks commit or roll
back with the records.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import SignalSettings as SignalSettingsRow
from app.signals import repository
from app.signals.repository import Emission
from app.signals.settings import Inactive, LoyaltyMilestone, ReorderOverdue, SignalSettings
from app.webhooks.service import enqueue_many


@dataclass(frozen=True)
class StoredSettings:
    settings: SignalSettings
    updated_at: datetime | None  # None while the defaults apply


def _from_row(row: SignalSettingsRow) -> SignalSettings:
    return SignalSettings(
        reorder_overdue=ReorderOverdue(
            enabled=row.reorder_overdue_enabled, factor=row.reorder_overdue_factor
        ),
        inactive=Inactive(enabled=row.inactive_enabled, days=row.inactive_days),
        loyalty_milestone=LoyaltyMilestone(
            enabled=row.loyalty_milestone_enabled, months=list(row.loyalty_milestone_months)
        ),
        catch_up_days=row.catch_up_days,
    )


def _to_row(settings: SignalSettings) -> dict[str, Any]:
    return {
        "reorder_overdue_enabled": settings.reorder_overdue.enabled,
        "reorder_overdue_factor": settings.reorder_overdue.factor,
        "inactive_enabled": settings.inactive.enabled,
        "inactive_days": settings.inactive.days,
        "loyalty_milestone_enabled": settings.loyalty_milestone.enabled,
        "loyalty_milestone_months": list(settings.loyalty_milestone.months),
        "catch_up_days": settings.catch_up_days,
    }


async def read_settings(session: AsyncSession, tenant_id: uuid.UUID) -> StoredSettings:
    row = await repository.get_settings(session, tenant_id)
    if row is None:
        return StoredSettings(SignalSettings(), None)
    return StoredSettings(_from_row(row), row.updated_at)


async def replace_settings(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    settings: SignalSettings,
    *,
    key_id: uuid.UUID | None,
) -> StoredSettings:
    row = await repository.upsert_settings(session, tenant_id, _to_row(settings), key_id)
    return StoredSettings(_from_row(row), row.updated_at)


@dataclass
class ScanReport:
    """Signals announced by one scan, per signal."""

    reorder_overdue: int = 0
    inactive: int = 0
    loyalty_milestone: int = 0

    @property
    def total(self) -> int:
        return self.reorder_overdue + self.inactive + self.loyalty_milestone


async def _candidates(
    session: AsyncSession, tenant_id: uuid.UUID, settings: SignalSettings, now: datetime
) -> list[tuple[Emission, dict[str, Any]]]:
    found: list[tuple[Emission, dict[str, Any]]] = []

    def add(signal: str, row: dict[str, Any], data: dict[str, Any]) -> None:
        emission = Emission(
            row["customer_id"], signal, row["dedupe_key"], row["due_at"], uuid.uuid4()
        )
        found.append((emission, {"customer_id": row["customer_id"], **data}))

    catch_up = settings.catch_up_days
    reorder = settings.reorder_overdue
    if reorder.enabled:
        for row in await repository.reorder_overdue(
            session, tenant_id, now, catch_up, reorder.factor
        ):
            add(
                "reorder_overdue",
                row,
                {
                    "last_purchase_at": row["last_purchase_at"],
                    "purchase_days": row["purchase_days"],
                    "median_interval_days": row["median_gap"],
                    "expected_purchase_at": row["expected_at"],
                    "overdue_since": row["due_at"],
                    "factor": reorder.factor,
                },
            )
    if settings.inactive.enabled:
        days = settings.inactive.days
        for row in await repository.inactive(session, tenant_id, now, catch_up, days):
            add(
                "inactive",
                row,
                {
                    "last_usage_at": row["last_usage_at"],
                    "inactive_days": days,
                    "inactive_since": row["due_at"],
                    "status": row["status"] or "lead",
                    "plan": row["plan"],
                },
            )
    milestones = settings.loyalty_milestone
    if milestones.enabled:
        for row in await repository.loyalty_milestones(
            session, tenant_id, now, catch_up, milestones.months
        ):
            add(
                "loyalty_milestone",
                row,
                {
                    "months": row["months"],
                    "subscribed_at": row["subscribed_at"],
                    "reached_at": row["due_at"],
                    "score": row["score"],
                    "plan": row["plan"],
                    "mrr": row["mrr"],
                    "currency": row["currency"],
                },
            )
    return found


async def scan_signals(
    session: AsyncSession, tenant_id: uuid.UUID, *, now: datetime | None = None
) -> ScanReport:
    """Announce every signal of the tenant due at ``now`` (default: the clock) that has not
    been announced yet; see the module docstring and docs in README ("Lifecycle signals")."""
    now = now or datetime.now(UTC)
    settings = (await read_settings(session, tenant_id)).settings
    found = await _candidates(session, tenant_id, settings, now)
    inserted = await repository.record(session, tenant_id, [e for e, _ in found], now)
    batches: dict[str, list[tuple[uuid.UUID, dict[str, Any]]]] = defaultdict(list)
    for emission, data in found:
        if emission.event_id in inserted:
            batches[emission.signal].append((emission.event_id, data))
    report = ScanReport()
    for signal, batch in sorted(batches.items()):
        await enqueue_many(
            session,
            tenant_id,
            [(f"customer.{signal}", data) for _, data in batch],
            event_ids=[event_id for event_id, _ in batch],
            now=now,
        )
        setattr(report, signal, len(batch))
    return report
