from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.inputs import RequestModel
from app.plans.catalog import MAX_PRICE, Currency

PlanName = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00]*$")]


class PlanPut(RequestModel):
    """A whole plan; PUT replaces what was there."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: PlanName
    price: int = Field(ge=0, le=MAX_PRICE, description="Monthly price in minor units.")
    currency: Currency = Field(description="ISO 4217 code, e.g. USD.")
    active: bool = Field(
        default=True, description="Inactive plans are kept for history but never offered."
    )


class PlanRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    plan_id: str
    name: str
    price: int
    currency: str
    active: bool
    created_at: datetime
    updated_at: datetime


class PlanList(BaseModel):
    items: list[PlanRead]
