from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    TypeAdapter,
    field_validator,
)

from app.inputs import RequestModel, omitted_not_null
from app.offers.kinds import CustomParams, DiscountParams, DowngradeParams, OfferKind, PauseParams
from app.offers.rules import MAX_HOLDOUT_BP, Condition, Rules

_NO_NUL = r"^[^\x00]*$"
Title = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=_NO_NUL)]
Description = Annotated[str, StringConstraints(max_length=2000, pattern=_NO_NUL)]
Priority = Annotated[
    int, Field(ge=-1000, le=1000, description="Higher is shown first (ties: see ranking).")
]


class _OfferCreate(RequestModel):
    # Strict: "yes" is not a boolean and "5" not a priority; a typo must not become a value.
    model_config = ConfigDict(extra="forbid", strict=True)

    title: Title = Field(description="Shown to the customer.")
    description: Description = Field(default="", description="Shown to the customer.")
    priority: Priority = 0
    active: bool = True
    rules: Rules = Field(default_factory=list)


class PauseOfferCreate(_OfferCreate):
    kind: Literal["pause"]
    params: PauseParams


class DowngradeOfferCreate(_OfferCreate):
    kind: Literal["downgrade"]
    params: DowngradeParams


class DiscountOfferCreate(_OfferCreate):
    kind: Literal["discount"]
    params: DiscountParams


class CustomOfferCreate(_OfferCreate):
    kind: Literal["custom"]
    params: CustomParams = Field(default_factory=CustomParams)


OfferCreate = PauseOfferCreate | DowngradeOfferCreate | DiscountOfferCreate | CustomOfferCreate
"""A new offer, discriminated by ``kind``: each kind has its own ``params``."""

_OFFER_CREATE: TypeAdapter[OfferCreate] = TypeAdapter(
    Annotated[OfferCreate, Field(discriminator="kind")]
)


def parse_offer_create(data: object) -> OfferCreate:
    """``data`` validated as a POST /v1/offers body; raises ``pydantic.ValidationError``."""
    return _OFFER_CREATE.validate_python(data)


class OfferUpdate(RequestModel):
    """Changes to an offer; absent fields stay as they are. ``params`` replaces the parameters
    as a whole and is validated against the offer's kind. The kind itself cannot change: an
    offer's save statistics belong to what it offered."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra=omitted_not_null(
            "kind", "title", "description", "priority", "active", "rules", "params"
        ),
    )

    kind: OfferKind | None = Field(default=None, description="Must equal the current kind.")
    title: Title | None = None
    description: Description | None = None
    priority: Priority | None = None
    active: bool | None = None
    rules: Rules | None = None
    params: dict[str, JsonValue] | None = None

    @field_validator("kind", "title", "description", "priority", "active", "rules", "params")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Only values actually sent reach this; null would erase a required column.
        if value is None:
            raise ValueError("may be omitted but not null")
        return value


class OfferRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: OfferKind
    title: str
    description: str
    params: dict[str, Any] = Field(description="The kind's parameters.")
    rules: list[Condition]
    priority: int
    active: bool
    created_at: datetime
    updated_at: datetime


class OfferList(BaseModel):
    items: list[OfferRead]


class OfferSettingsPut(RequestModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    holdout_share_bp: int = Field(
        default=0,
        ge=0,
        le=MAX_HOLDOUT_BP,
        description="Share of customers whose cancellation flows get no offer, in basis points "
        "(1000 = 10%, at most 2000 = 20%). Assignment is fixed per customer.",
    )
    keep_days: int = Field(
        default=30,
        ge=1,
        le=365,
        description="Days a customer who accepted an offer must stay subscribed to count as saved.",
    )


class OfferSettingsRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    holdout_share_bp: int
    keep_days: int
    updated_at: datetime | None = Field(description="Null while the defaults apply.")
