"""Per-tenant settings of the lifecycle signals (pure: Pydantic only, no I/O).

The defaults apply until a tenant stores its own with ``PUT /v1/settings/signals``, which
replaces the whole object (a field left out takes its default).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field, field_validator

from app.inputs import RequestModel

MAX_MILESTONE_MONTHS = 120
MAX_MILESTONES = 24


class _Strict(RequestModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ReorderOverdue(_Strict):
    enabled: bool = True
    factor: float = Field(
        default=1.5,
        ge=1,
        le=10,
        allow_inf_nan=False,
        description="A repeat buyer is overdue once the time since its last purchase exceeds "
        "factor x its median interval between purchase days.",
    )


class Inactive(_Strict):
    enabled: bool = True
    days: int = Field(
        default=14, ge=1, le=365, description="Days without usage, after having had some."
    )


Milestone = Annotated[int, Field(ge=1, le=MAX_MILESTONE_MONTHS)]


class LoyaltyMilestone(_Strict):
    enabled: bool = True
    months: list[Milestone] = Field(
        default=[3, 12, 24],
        min_length=1,
        max_length=MAX_MILESTONES,
        json_schema_extra={"uniqueItems": True},
        description="Tenures, in months since the first activation, to announce (1-120, "
        "distinct; stored ascending).",
    )

    @field_validator("months")
    @classmethod
    def _distinct_ascending(cls, months: list[int]) -> list[int]:
        if len(set(months)) != len(months):
            raise ValueError("milestones must be distinct")
        return sorted(months)


class SignalSettings(_Strict):
    reorder_overdue: ReorderOverdue = ReorderOverdue()
    inactive: Inactive = Inactive()
    loyalty_milestone: LoyaltyMilestone = LoyaltyMilestone()
    catch_up_days: int = Field(
        default=7,
        ge=1,
        le=90,
        description="A signal whose moment passed more than this many days before a scan is "
        "not sent any more: turning a signal on, or a long outage, does not announce old news.",
    )
