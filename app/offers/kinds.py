"""Offer kinds and the parameters each takes (pure: stdlib and Pydantic only).

Parameters are validated strictly: a number sent as a string, an unknown key or an out-of-range
value is an error, never coerced or dropped.
"""

from __future__ import annotations

import json
import math
from typing import Any, Literal, Self

from pydantic import ConfigDict, Field, JsonValue, model_validator

from app.inputs import RequestModel
from app.plans.catalog import PlanId

OfferKind = Literal["pause", "downgrade", "discount", "custom"]
OFFER_KINDS: tuple[OfferKind, ...] = ("pause", "downgrade", "discount", "custom")

# The custom payload is handed back verbatim to the billing system; keep it a small document.
MAX_PAYLOAD_BYTES = 4096
MAX_PAYLOAD_DEPTH = 8


class _Params(RequestModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class PauseParams(_Params):
    """Pause billing for ``min_months`` to ``months`` months instead of cancelling (the customer
    chooses within the range when accepting; ``months`` when they do not say)."""

    months: int = Field(ge=1, le=12, description="Longest pause offered, in months.")
    min_months: int = Field(default=1, ge=1, le=12, description="Shortest pause offered.")

    @model_validator(mode="after")
    def _range(self) -> Self:
        if self.min_months > self.months:
            raise ValueError("min_months must not exceed months")
        return self


class DowngradeParams(_Params):
    """Move to a cheaper plan: an explicit catalog plan, or ``"next_cheaper"`` for the most
    expensive active plan cheaper than what the customer pays now."""

    target_plan_id: PlanId = Field(description='A catalog plan id, or "next_cheaper".')


class DiscountParams(_Params):
    """``percent`` off the subscription price for the next ``months`` months."""

    percent: int = Field(ge=1, le=100)
    months: int = Field(ge=1, le=36)


def _check_json(value: Any, depth: int, path: str) -> None:
    if depth > MAX_PAYLOAD_DEPTH:
        raise ValueError(f"payload nests deeper than {MAX_PAYLOAD_DEPTH} levels")
    if isinstance(value, str):
        # PostgreSQL's jsonb holds neither a NUL character nor a lone surrogate.
        if "\x00" in value:
            raise ValueError(f"NUL character in payload at {path or '/'}")
        try:
            value.encode()
        except UnicodeEncodeError:
            raise ValueError(
                f"invalid Unicode (lone surrogate) in payload at {path or '/'}"
            ) from None
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"non-finite number in payload at {path or '/'}")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_json(key, depth, path)
            _check_json(item, depth + 1, f"{path}/{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_json(item, depth + 1, f"{path}/{index}")


class CustomParams(_Params):
    """Anything else ("talk to us", "tell us what's missing"): ``payload`` is an opaque JSON
    object returned as-is to the caller, which knows what to do with it. The offer's title and
    description are what the customer sees."""

    payload: dict[str, JsonValue] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _bounded(self) -> Self:
        _check_json(self.payload, 1, "")
        size = len(json.dumps(self.payload, ensure_ascii=False).encode())
        if size > MAX_PAYLOAD_BYTES:
            raise ValueError(f"payload is {size} bytes of JSON; at most {MAX_PAYLOAD_BYTES}")
        return self


OfferParams = PauseParams | DowngradeParams | DiscountParams | CustomParams

PARAMS_BY_KIND: dict[str, type[OfferParams]] = {
    "pause": PauseParams,
    "downgrade": DowngradeParams,
    "discount": DiscountParams,
    "custom": CustomParams,
}


def parse_params(kind: str, data: object) -> OfferParams:
    """``data`` validated as the parameters of ``kind``; raises ``pydantic.ValidationError``
    (or ``KeyError`` for an unknown kind)."""
    return PARAMS_BY_KIND[kind].model_validate(data)
