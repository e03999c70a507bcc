from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.events.schemas import CancellationReason, Comment, Instant
from app.inputs import RequestModel, Uuid
from app.models import CancellationFlow
from app.offers.flows.decisions import effective_status
from app.offers.kinds import OfferKind
from app.offers.report import Counts, FlowReport, ReportRow
from app.offers.stats import Lift

FlowStatus = Literal["open", "accepted", "declined", "abandoned"]
Variant = Literal["treatment", "holdout"]


class FlowStart(RequestModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    reason: CancellationReason = Field(description="Why the customer wants to cancel.")
    comment: Comment | None = Field(default=None, description="The customer's own words.")


class FlowAccept(RequestModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    offer_id: Uuid = Field(description="One of the offers this flow showed.")
    months: int | None = Field(
        default=None,
        ge=1,
        le=12,
        description="Pause offers only: how long, within the offer's min_months..months "
        "(default: the longest).",
    )


class FlowDecline(RequestModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    effective_at: Instant | None = Field(
        default=None,
        description="When the cancellation takes effect (e.g. the end of the paid period), "
        "not in the past and at most 400 days ahead; default: now.",
    )


class ShownOffer(BaseModel):
    offer_id: uuid.UUID
    kind: OfferKind
    title: str
    description: str
    params: dict[str, Any] = Field(
        description="The offer's parameters, resolved for this customer: a downgrade names "
        "its target_plan_id, price and currency."
    )
    rank: int = Field(description="1 is the best offer.")


class AcceptedOffer(BaseModel):
    offer_id: uuid.UUID
    kind: OfferKind
    title: str
    params: dict[str, Any] = Field(
        description="What was applied: pause {months, resume_at}; downgrade {from_plan, "
        "target_plan_id, price, currency}; discount {percent, months, plan, base_mrr, mrr, "
        "currency, discount_until}; custom {payload}."
    )


class FlowRead(BaseModel):
    """A cancellation flow. ``offers`` is empty in the holdout (and when nothing was
    eligible)."""

    flow_id: uuid.UUID
    customer_id: str
    reason: CancellationReason
    comment: str | None
    status: FlowStatus = Field(description="An open flow past expires_at is abandoned.")
    variant: Variant
    offers: list[ShownOffer]
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None = Field(description="When it ended (abandoned: expires_at).")
    accepted_offer: AcceptedOffer | None
    cancel_effective_at: datetime | None = Field(
        description="Declined: when the cancellation takes effect."
    )
    event_ids: list[uuid.UUID] = Field(
        description="The events the decision was recorded with, in order, the decision's own "
        "last (accepting first withdraws a scheduled cancellation, if any); none for a custom "
        "offer or an abandoned flow."
    )

    @classmethod
    def from_row(cls, flow: CancellationFlow, now: datetime) -> FlowRead:
        accepted = None
        if flow.accepted_offer_id is not None:
            shown = next(
                (o for o in flow.offers_shown if o["offer_id"] == str(flow.accepted_offer_id)),
                {},
            )
            accepted = AcceptedOffer(
                offer_id=flow.accepted_offer_id,
                kind=shown.get("kind", flow.accepted_kind),
                title=shown.get("title", ""),
                params=flow.accepted_params or {},
            )
        status = effective_status(flow.status, flow.expires_at, now)
        return cls(
            flow_id=flow.id,
            customer_id=flow.customer_id,
            reason=flow.reason,
            comment=flow.comment,
            status=status,
            variant=flow.variant,
            offers=[ShownOffer.model_validate(o) for o in flow.offers_shown],
            created_at=flow.created_at,
            expires_at=flow.expires_at,
            decided_at=flow.decided_at
            if flow.decided_at is not None or status != "abandoned"
            else flow.expires_at,
            accepted_offer=accepted,
            cancel_effective_at=flow.cancel_effective_at,
            event_ids=flow.applied_event_ids,
        )


class FlowList(BaseModel):
    items: list[FlowRead]


class LiftRead(BaseModel):
    """Treatment save rate minus holdout save rate, with a 95% confidence interval (Newcombe's
    hybrid score method)."""

    treatment_rate: float
    holdout_rate: float
    difference: float
    ci_low: float
    ci_high: float
    significant: bool = Field(description="The interval excludes 0.")

    @classmethod
    def of(cls, value: Lift | None) -> LiftRead | None:
        if value is None:
            return None
        return cls(
            treatment_rate=value.treatment_rate,
            holdout_rate=value.holdout_rate,
            difference=value.difference,
            ci_low=value.low,
            ci_high=value.high,
            significant=value.significant,
        )


class CountsRead(BaseModel):
    flows: int
    accepted: int
    kept: int
    declined: int
    abandoned: int
    pending: int = Field(
        description="Flows whose keep window (keep_days after they ended) is not over yet; "
        "left out of the rates."
    )
    resolved: int = Field(description="flows - pending")
    saved: int
    save_rate: float | None = Field(description="saved / resolved")
    keep_rate: float | None = Field(description="kept / resolved")

    @classmethod
    def of(cls, counts: Counts) -> CountsRead:
        return cls(
            flows=counts.flows,
            accepted=counts.accepted,
            kept=counts.kept,
            declined=counts.declined,
            abandoned=counts.abandoned,
            pending=counts.pending,
            resolved=counts.resolved,
            saved=counts.saved,
            save_rate=counts.save_rate,
            keep_rate=counts.keep_rate,
        )


class ReportRowRead(CountsRead):
    kind: OfferKind | None = Field(description="null: flows that had no offer.")
    reason: CancellationReason
    variant: Variant
    lift: LiftRead | None = Field(
        description="Treatment rows: over the holdout row of the same kind and reason."
    )

    @classmethod
    def of_row(cls, row: ReportRow) -> ReportRowRead:
        return cls(
            kind=row.kind,
            reason=row.reason,
            variant=row.variant,
            lift=LiftRead.of(row.lift),
            **CountsRead.of(row.counts).model_dump(),
        )


class ReportTotals(CountsRead):
    treatment: CountsRead
    holdout: CountsRead
    lift: LiftRead | None = Field(description="All treatment flows over all holdout flows.")


class FlowReportRead(BaseModel):
    """Outcomes of the flows started in [start, end), as of ``as_of``. Definitions: a flow is
    *saved* when it did not end in a decline and the customer did not churn within keep_days
    after it ended; *kept* when, in addition, an offer was accepted; *pending* until keep_days
    have passed since it ended. Rates are over resolved (not pending) flows."""

    start: datetime
    end: datetime
    as_of: datetime
    keep_days: int
    holdout_share_bp: int
    totals: ReportTotals
    rows: list[ReportRowRead]

    @classmethod
    def of(cls, report: FlowReport) -> FlowReportRead:
        return cls(
            start=report.start,
            end=report.end,
            as_of=report.as_of,
            keep_days=report.keep_days,
            holdout_share_bp=report.holdout_share_bp,
            totals=ReportTotals(
                treatment=CountsRead.of(report.treatment),
                holdout=CountsRead.of(report.holdout),
                lift=LiftRead.of(report.lift),
                **CountsRead.of(report.total).model_dump(),
            ),
            rows=[ReportRowRead.of_row(row) for row in report.rows],
        )
