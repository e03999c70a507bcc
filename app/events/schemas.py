"""Event payloads: one Pydantic discriminated union on ``type``.

Unknown fields are rejected (free-form data belongs in ``properties``). Every string is bounded
and free of NUL bytes, every integer bounded, so nothing a client sends reaches PostgreSQL in a
shape it would refuse.
"""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    RootModel,
    StringConstraints,
    TypeAdapter,
    WithJsonSchema,
    model_validator,
)

from app.ids import ID_PATTERN as ID_PATTERN
from app.inputs import Instant, RequestModel
from app.money import Currency
from app.openapi import ValidationIssue

__all__ = ["Currency", "Instant"]

MAX_FUTURE = timedelta(hours=24)
MAX_MONEY = 10**12  # minor units: ten billion in a two-decimal currency
MAX_QUANTITY = 10**9
MAX_PROPERTIES_BYTES = 16 * 1024
MAX_PROPERTIES_DEPTH = 8
MAX_BATCH = 1000

CANCELLATION_REASONS = (
    "too_expensive",
    "unused",
    "missing_features",
    "switched_service",
    "customer_service",
    "low_quality",
    "too_complex",
    "other",
)
CancellationReason = Literal[
    "too_expensive",
    "unused",
    "missing_features",
    "switched_service",
    "customer_service",
    "low_quality",
    "too_complex",
    "other",
]

_NO_NUL = r"^[^\x00]*$"

CustomerId = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=ID_PATTERN)]
PlanId = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=ID_PATTERN)]
IdempotencyKey = Annotated[
    str, StringConstraints(min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$")
]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=_NO_NUL)]
Label = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=_NO_NUL)]
Comment = Annotated[str, StringConstraints(max_length=2000, pattern=_NO_NUL)]
Money = Annotated[int, Field(strict=True, ge=0, le=MAX_MONEY)]
Quantity = Annotated[int, Field(strict=True, ge=0, le=MAX_QUANTITY)]


def _not_far_future(value: datetime) -> datetime:
    if value > datetime.now(UTC) + MAX_FUTURE:
        raise ValueError("must not be more than 24 hours in the future")
    return value


OccurredAt = Annotated[
    Instant,
    AfterValidator(_not_far_future),
    Field(description="When it happened, ISO 8601 with an offset; stored in UTC."),
]


_INT64_MAX = 2**63 - 1


def _check_node(node: JsonValue, depth: int) -> None:
    # Exact type tests (JSON values are never subclasses), the common scalars first: this runs
    # for every value of every event's properties.
    kind = type(node)
    if kind is str:
        if "\x00" in node:  # type: ignore[operator]
            raise ValueError("contains a NUL character")
    elif kind is int:
        if abs(node) > _INT64_MAX:  # type: ignore[arg-type]
            raise ValueError("contains an integer beyond 64 bits")
    elif kind is float:
        if not math.isfinite(node):  # type: ignore[arg-type]
            raise ValueError("contains NaN or Infinity, which JSON does not allow")
    elif kind is dict or kind is list:
        if node and depth >= MAX_PROPERTIES_DEPTH:  # its items would be a level too deep
            raise ValueError(f"nests deeper than {MAX_PROPERTIES_DEPTH} levels")
        if kind is dict:
            for key, item in node.items():  # type: ignore[union-attr]
                if "\x00" in key:
                    raise ValueError("contains a NUL character")
                _check_node(item, depth + 1)
        else:
            for item in node:  # type: ignore[union-attr]
                _check_node(item, depth + 1)


def _check_properties(value: dict[str, JsonValue]) -> dict[str, JsonValue]:
    _check_node(value, 1)
    if len(json.dumps(value, separators=(",", ":"))) > MAX_PROPERTIES_BYTES:
        raise ValueError(f"is larger than {MAX_PROPERTIES_BYTES} bytes")
    return value


Properties = Annotated[
    dict[str, JsonValue],
    AfterValidator(_check_properties),
    Field(description="Free-form JSON object (up to 16 KB, 8 levels deep)."),
]


class _EventBase(RequestModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    idempotency_key: IdempotencyKey | None = Field(
        default=None,
        description="Unique per tenant forever. Omitted: derived from a hash of the content, "
        "so a retry of the same event is still counted once.",
    )
    customer_id: CustomerId
    occurred_at: OccurredAt
    properties: Properties = Field(default_factory=dict)


class PurchaseEvent(_EventBase):
    """A payment received. With ``mrr`` it starts, renews or re-prices a subscription."""

    type: Literal["purchase"]
    amount: Money
    currency: Currency
    plan: PlanId | None = None
    mrr: Money | None = Field(
        default=None, description="Monthly recurring revenue after this purchase, minor units."
    )


class UsageEvent(_EventBase):
    type: Literal["usage"]
    quantity: Quantity = 1
    feature: Label | None = None


class CancellationEvent(_EventBase):
    """The customer cancels; churn counts when it takes effect (``effective_at``)."""

    type: Literal["cancellation"]
    reason: CancellationReason | None = None
    comment: Comment | None = None
    effective_at: Instant | None = Field(
        default=None,
        description="When the cancellation takes effect (default: occurred_at). Later than "
        "occurred_at: the cancellation is pending until then.",
    )

    @model_validator(mode="after")
    def _effective_not_before_occurred(self) -> CancellationEvent:
        if self.effective_at is not None and self.effective_at < self.occurred_at:
            raise ValueError("effective_at must not be before occurred_at")
        return self


class PauseEvent(_EventBase):
    type: Literal["pause"]
    resume_at: Instant | None = Field(
        default=None, description="When the pause ends by itself; omitted: until a resume."
    )
    reason: ShortText | None = None

    @model_validator(mode="after")
    def _resume_after_pause(self) -> PauseEvent:
        if self.resume_at is not None and self.resume_at <= self.occurred_at:
            raise ValueError("resume_at must be after occurred_at")
        return self


class ResumeEvent(_EventBase):
    type: Literal["resume"]


class PlanChangeEvent(_EventBase):
    type: Literal["plan_change"]
    plan: PlanId
    mrr: Money | None = Field(
        default=None, description="New MRR in minor units; omitted: the catalog plan's price."
    )
    currency: Currency | None = None
    discount_until: Instant | None = Field(
        default=None,
        description="The new mrr is a temporary (discounted) price until this instant; then the "
        "price before it returns. Requires mrr.",
    )

    @model_validator(mode="after")
    def _discount_has_price_and_end(self) -> PlanChangeEvent:
        if self.discount_until is not None:
            if self.mrr is None:
                raise ValueError("discount_until requires mrr (the discounted price)")
            if self.discount_until <= self.occurred_at:
                raise ValueError("discount_until must be after occurred_at")
        return self


class PaymentFailedEvent(_EventBase):
    type: Literal["payment_failed"]
    amount: Money | None = None
    currency: Currency | None = None
    reason: ShortText | None = None

    @model_validator(mode="after")
    def _amount_has_currency(self) -> PaymentFailedEvent:
        if self.amount is not None and self.currency is None:
            raise ValueError("currency is required with amount")
        return self


class FeedbackEvent(_EventBase):
    type: Literal["feedback"]
    nps: Annotated[int, Field(strict=True, ge=0, le=10)] | None = None
    comment: Comment | None = None

    @model_validator(mode="after")
    def _has_content(self) -> FeedbackEvent:
        if self.nps is None and not self.comment:
            raise ValueError("feedback needs nps or comment")
        return self


Event = Annotated[
    PurchaseEvent
    | UsageEvent
    | CancellationEvent
    | PauseEvent
    | ResumeEvent
    | PlanChangeEvent
    | PaymentFailedEvent
    | FeedbackEvent,
    Field(discriminator="type"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


class EventIn(RootModel[Event]):
    """One event; ``type`` selects its shape."""


class EventBatchIn(RequestModel):
    """Documented shape of a batch. Items are validated one by one, so a bad item is reported
    in the results without failing the rest."""

    model_config = ConfigDict(extra="forbid", strict=True)

    # Items are documented as objects: an item that is not a valid event is a per-item
    # rejection in a 200, not a refusal of the request, so the schema must not promise otherwise.
    events: Annotated[
        list[EventIn],
        WithJsonSchema(
            {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_BATCH,
                "items": {
                    "description": "An event as for POST /v1/events (schema EventIn). Each item "
                    "is validated on its own: an invalid one is reported as rejected in the "
                    "results and the others are kept.",
                },
            }
        ),
    ] = Field(min_length=1, max_length=MAX_BATCH)


class EventAccepted(BaseModel):
    id: uuid.UUID
    status: Literal["accepted", "duplicate"]


class BatchItemResult(BaseModel):
    index: int
    status: Literal["accepted", "duplicate", "rejected"]
    id: uuid.UUID | None = None
    errors: list[ValidationIssue] | None = None


class BatchResult(BaseModel):
    accepted: int
    duplicates: int
    rejected: int
    results: list[BatchItemResult]


class EventRead(BaseModel):
    """An event as stored."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    idempotency_key: str
    customer_id: str
    type: str
    occurred_at: datetime
    received_at: datetime
    source: str
    amount: int | None = None
    currency: str | None = None
    plan: str | None = None
    mrr: int | None = None
    quantity: int | None = None
    feature: str | None = None
    reason: str | None = None
    comment: str | None = None
    effective_at: datetime | None = None
    resume_at: datetime | None = None
    nps: int | None = None
    discount_until: datetime | None = None
    properties: dict[str, Any]


class EventPage(BaseModel):
    items: list[EventRead]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` for the next page; null on the last page."
    )
