from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from app.inputs import RequestModel
from app.openapi import ValidationIssue

SegmentTarget = Literal[
    "purchase",
    "usage",
    "cancellation",
    "pause",
    "resume",
    "plan_change",
    "payment_failed",
    "feedback",
    "ignore",
]
TrackName = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00]*$")]


class SegmentMappingIn(RequestModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    event_name: TrackName = Field(description="A Segment track name, e.g. `Order Completed`.")
    event_type: SegmentTarget = Field(description="The Holdfast event type, or `ignore`.")


class SegmentMappingsIn(RequestModel):
    """The tenant's whole set of custom mappings (replacing the previous set)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    mappings: list[SegmentMappingIn] = Field(max_length=500)

    @field_validator("mappings")
    @classmethod
    def _names_unique(cls, value: list[SegmentMappingIn]) -> list[SegmentMappingIn]:
        names = [m.event_name for m in value]
        if len(set(names)) != len(names):
            raise ValueError("each event_name may appear once")
        return value


class SegmentMapping(BaseModel):
    event_name: str
    event_type: SegmentTarget
    source: Literal["default", "custom"] = Field(
        description="default: built in; custom: set by this tenant (overrides a default)."
    )


class SegmentMappings(BaseModel):
    mappings: list[SegmentMapping]
    unmapped: Literal["usage"] = Field(
        default="usage", description="What any other track becomes (`feature` = its name)."
    )


class MessageIssue(BaseModel):
    index: int
    message_id: str | None
    errors: list[ValidationIssue]


class SegmentAck(BaseModel):
    """Segment's success answer (`success: true`), with what became of each message."""

    success: bool = True
    accepted: int = Field(description="Messages recorded (events stored, traits merged).")
    duplicates: int = Field(description="Messages whose messageId was already recorded.")
    ignored: int = Field(description="Anonymous, page/screen/group/alias, or mapped to ignore.")
    rejected: int = Field(description="Messages that could not be recorded; see errors.")
    errors: list[MessageIssue]
