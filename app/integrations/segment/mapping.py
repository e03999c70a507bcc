"""Segment Tracking API messages -> Holdfast event payloads and customer traits (pure).

* ``userId`` is the customer (it must fit the customer id alphabet, else the message is
  rejected); messages with only an ``anonymousId`` are ignored: anonymous visitors are not
  customers yet.
* ``messageId`` is the idempotency key (``segment:<messageId>``), so Segment's retries count
  once; ``timestamp`` is ``occurred_at`` (without it, ``originalTimestamp`` corrected by the
  client clock's offset ``sentAt`` - receipt time, as Segment does; without both, the receipt).
* ``track``: the event name selects the type through the tenant's mappings, else
  :data:`DEFAULT_MAPPINGS`, else ``usage`` with ``feature`` = the name. Typed fields come from
  the properties named below, in Segment's conventions: money (``revenue``, ``total``,
  ``amount``, ``mrr``) in major units of ``currency`` (default USD), converted to minor units.
  Every other property is kept in the event's ``properties``, after dropping what an event
  cannot store (see :func:`app.integrations.common.fit_properties`): a big or odd property
  never costs the message.
* ``identify``: ``traits`` are merged into the customer (created as a lead when new).
* ``page``, ``screen``, ``group``, ``alias``: ignored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.events.schemas import CANCELLATION_REASONS, ID_PATTERN
from app.integrations.common import (
    MappingError,
    fit_properties,
    integration_key,
    minor_units,
    parse_time,
    truncate,
)

MAX_MESSAGE_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024

DEFAULT_MAPPINGS: Mapping[str, str] = {
    "Order Completed": "purchase",
    "Subscription Cancelled": "cancellation",
    "Subscription Paused": "pause",
    "Subscription Resumed": "resume",
    "Plan Changed": "plan_change",
    "Payment Failed": "payment_failed",
    "NPS Submitted": "feedback",
}
IGNORED_TYPES = frozenset({"page", "screen", "group", "alias"})
_ID = re.compile(ID_PATTERN)


class MessageTooLarge(MappingError):
    pass


@dataclass(frozen=True)
class Track:
    payload: dict[str, Any]


@dataclass(frozen=True)
class Identify:
    customer_id: str
    traits: dict[str, Any]
    at: datetime


@dataclass(frozen=True)
class Ignored:
    reason: str


Interpreted = Track | Identify | Ignored


def resolve_type(name: str, custom: Mapping[str, str]) -> str:
    """The event type of a track named ``name``: the tenant's mapping, else the default, else
    ``usage``. ``ignore`` drops the track."""
    return custom.get(name) or DEFAULT_MAPPINGS.get(name) or "usage"


def message_id(message: Mapping[str, Any]) -> str | None:
    value = message.get("messageId")
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def occurred_at(message: Mapping[str, Any], received_at: datetime, sent_at: Any) -> datetime:
    """When the message happened: ``timestamp``; else ``originalTimestamp`` shifted by the
    sender's clock offset (receipt time - ``sentAt``) when ``sentAt`` is known; else
    ``originalTimestamp``; else the receipt time."""
    for name in ("timestamp", "originalTimestamp"):
        if message.get(name) is not None:
            try:
                at = parse_time(message[name])
            except ValueError as exc:
                raise MappingError((name,), str(exc)) from None
            sent = message.get("sentAt", sent_at)
            if name == "originalTimestamp" and sent is not None:
                # An unusable sentAt leaves the sender's clock as it is.
                with suppress(ValueError, OverflowError):
                    at += received_at - parse_time(sent)
            return at
    return received_at


def _customer(message: Mapping[str, Any]) -> str | None:
    user_id = message.get("userId")
    if user_id is None or user_id == "":
        return None
    if isinstance(user_id, int) and not isinstance(user_id, bool):
        user_id = str(user_id)
    if not isinstance(user_id, str) or len(user_id) > 200 or not _ID.match(user_id):
        raise MappingError(
            ("userId",),
            "must be 1-200 characters of letters, digits and . _ : @ + | = -",
        )
    return user_id


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


# -- typed fields from properties --------------------------------------------------------------


class _Props:
    """A track's properties, handing out typed fields; what is not taken stays free-form."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.rest = dict(raw)

    def take(self, name: str) -> Any:
        return self.rest.pop(name, None)

    def text(self, name: str, limit: int) -> str | None:
        value = self.rest.get(name)
        if not isinstance(value, str) or not value.replace("\x00", ""):
            return None
        del self.rest[name]
        return truncate(value, limit)

    def currency(self) -> str:
        value = self.rest.get("currency")
        if isinstance(value, str) and re.fullmatch(r"[A-Za-z]{3}", value):
            del self.rest["currency"]
            return value.upper()
        return "USD"

    def money(self, name: str, currency: str) -> int | None:
        if self.rest.get(name) is None:
            return None
        try:
            return minor_units(self.rest.pop(name), currency)
        except ValueError as exc:
            raise MappingError(("properties", name), str(exc)) from None

    def instant(self, name: str) -> str | None:
        if self.rest.get(name) is None:
            return None
        try:
            return _iso(parse_time(self.rest.pop(name)))
        except ValueError as exc:
            raise MappingError(("properties", name), str(exc)) from None

    def plan(self, *names: str) -> str | None:
        for name in names:
            value = self.rest.get(name)
            if isinstance(value, str) and len(value) <= 200 and _ID.match(value):
                del self.rest[name]
                return value
        return None


def _purchase(props: _Props, name: str) -> dict[str, Any]:
    currency = props.currency()
    amount = props.money("revenue", currency)
    if amount is None:
        amount = props.money("total", currency)
    if amount is None:
        raise MappingError(("properties", "revenue"), f"{name!r} needs revenue or total")
    return {
        "amount": amount,
        "currency": currency,
        "plan": props.plan("plan", "plan_id"),
        "mrr": props.money("mrr", currency),
    }


def _cancellation(props: _Props, name: str) -> dict[str, Any]:
    reason = props.text("reason", 500)
    if reason is not None and reason not in CANCELLATION_REASONS:
        props.rest["reason_detail"] = reason
        reason = "other"
    return {
        "reason": reason,
        "comment": props.text("comment", 2000),
        "effective_at": props.instant("effective_at"),
    }


def _pause(props: _Props, name: str) -> dict[str, Any]:
    return {"resume_at": props.instant("resume_at"), "reason": props.text("reason", 64)}


def _resume(props: _Props, name: str) -> dict[str, Any]:
    return {}


def _plan_change(props: _Props, name: str) -> dict[str, Any]:
    plan = props.plan("plan", "plan_id")
    if plan is None:
        raise MappingError(("properties", "plan"), f"{name!r} needs a plan id")
    currency = props.currency()
    mrr = props.money("mrr", currency)
    return {"plan": plan, "mrr": mrr, "currency": currency if mrr is not None else None}


def _payment_failed(props: _Props, name: str) -> dict[str, Any]:
    currency = props.currency()
    amount = props.money("amount", currency)
    return {
        "amount": amount,
        "currency": currency if amount is not None else None,
        "reason": props.text("reason", 64),
    }


def _feedback(props: _Props, name: str) -> dict[str, Any]:
    nps = None
    for field in ("score", "nps"):
        value = props.rest.get(field)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            if not 0 <= value <= 10:
                raise MappingError(("properties", field), "must be an NPS score from 0 to 10")
            nps = value
            del props.rest[field]
            break
    return {"nps": nps, "comment": props.text("comment", 2000)}


def _usage(props: _Props, name: str) -> dict[str, Any]:
    quantity = props.rest.get("quantity")
    fields: dict[str, Any] = {"feature": truncate(name, 200) or None}
    if isinstance(quantity, int) and not isinstance(quantity, bool) and 0 <= quantity <= 10**9:
        fields["quantity"] = props.take("quantity")
    return fields


_FIELDS: Mapping[str, Callable[[_Props, str], dict[str, Any]]] = {
    "purchase": _purchase,
    "cancellation": _cancellation,
    "pause": _pause,
    "resume": _resume,
    "plan_change": _plan_change,
    "payment_failed": _payment_failed,
    "feedback": _feedback,
    "usage": _usage,
}


def _size(message: Mapping[str, Any]) -> int:
    return len(json.dumps(message, separators=(",", ":"), default=str).encode())


def interpret(
    message: Any,
    custom: Mapping[str, str],
    received_at: datetime,
    *,
    sent_at: Any = None,
    kind: str | None = None,
) -> Interpreted:
    """What one Segment message means for Holdfast (see the module docstring). ``kind`` is the
    type implied by a single-message endpoint (``/v1/track``); ``sent_at`` the batch's
    ``sentAt``. Raises :class:`MappingError` for a message that cannot be recorded."""
    if not isinstance(message, Mapping):
        raise MappingError((), "a message must be a JSON object")
    if _size(message) > MAX_MESSAGE_BYTES:
        raise MessageTooLarge((), f"a message must not exceed {MAX_MESSAGE_BYTES} bytes")
    kind = kind or message.get("type")
    if kind in IGNORED_TYPES:
        return Ignored(f"{kind} calls are not recorded")
    if kind not in {"track", "identify"}:
        raise MappingError(
            ("type",),
            "must be track or identify (page, screen, group and alias are accepted and ignored)",
        )
    customer_id = _customer(message)
    if customer_id is None:
        return Ignored("anonymous (no userId)")
    at = occurred_at(message, received_at, sent_at)

    if kind == "identify":
        traits = message.get("traits") or {}
        if not isinstance(traits, Mapping):
            raise MappingError(("traits",), "must be an object")
        return Identify(customer_id, fit_properties(traits)[0], at)

    name = message.get("event")
    if not isinstance(name, str) or not name.strip():
        raise MappingError(("event",), "a track needs an event name")
    event_type = resolve_type(name, custom)
    if event_type == "ignore":
        return Ignored(f"{name!r} is mapped to ignore")
    raw = message.get("properties") or {}
    if not isinstance(raw, Mapping):
        raise MappingError(("properties",), "must be an object")
    props = _Props(raw)
    fields = _FIELDS[event_type](props, name)
    extra = {} if event_type == "usage" else {"segment_event": truncate(name, 200)}
    properties, _ = fit_properties({**extra, **props.rest})
    mid = message_id(message)
    return Track(
        {
            "idempotency_key": integration_key("segment", mid) if mid else None,
            "type": event_type,
            "customer_id": customer_id,
            "occurred_at": _iso(at),
            "properties": properties,
            **{k: v for k, v in fields.items() if v is not None},
        }
    )
