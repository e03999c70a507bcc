import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.customers.traits import MAX_TRAITS_BYTES, TraitsUpdate, combine
from app.integrations.cloudevents.mapping import (
    CloudEvent,
    content_mode,
    event_type,
    from_binary,
    from_structured,
    idempotency_key,
    to_payload,
)
from app.integrations.common import MappingError
from app.integrations.errors import UnsupportedMediaType
from app.integrations.segment.mapping import (
    Identify,
    Ignored,
    MessageTooLarge,
    Track,
    interpret,
    occurred_at,
    resolve_type,
)

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


# -- Segment -----------------------------------------------------------------------------------


def test_resolve_type_prefers_the_tenant_then_the_default_then_usage() -> None:
    custom = {"Order Completed": "usage", "Signed Up": "ignore"}
    assert resolve_type("Order Completed", custom) == "usage"
    assert resolve_type("Payment Failed", custom) == "payment_failed"
    assert resolve_type("Signed Up", custom) == "ignore"
    assert resolve_type("Clicked", custom) == "usage"


def test_occurred_at_rules() -> None:
    assert occurred_at({"timestamp": "2026-06-01T10:00:00Z"}, NOW, None) == NOW - timedelta(hours=2)
    skewed = {"originalTimestamp": "2026-06-01T09:00:00Z", "sentAt": "2026-06-01T11:00:00Z"}
    assert occurred_at(skewed, NOW, None) == NOW - timedelta(hours=2)
    batch_sent = {"originalTimestamp": "2026-06-01T09:00:00Z"}
    assert occurred_at(batch_sent, NOW, "2026-06-01T11:30:00Z") == NOW - timedelta(hours=2.5)
    assert occurred_at(batch_sent, NOW, "garbage") == NOW - timedelta(hours=3)
    assert occurred_at({}, NOW, None) == NOW


def _track(**fields: Any) -> dict[str, Any]:
    return {"type": "track", "userId": "u1", "event": "Clicked", "messageId": "m", **fields}


def test_a_track_becomes_usage_with_the_name_as_feature() -> None:
    result = interpret(_track(event="E" * 300, properties={"quantity": 2}), {}, NOW)
    assert isinstance(result, Track)
    assert result.payload["feature"] == "E" * 200
    assert result.payload["quantity"] == 2
    assert result.payload["idempotency_key"] == "segment:m"


def test_numeric_user_ids_are_strings_and_odd_ones_rejected() -> None:
    result = interpret(_track(userId=42), {}, NOW)
    assert isinstance(result, Track)
    assert result.payload["customer_id"] == "42"
    for bad in ("a b", "x" * 201, True, {"id": 1}):
        with pytest.raises(MappingError) as raised:
            interpret(_track(userId=bad), {}, NOW)
        assert raised.value.loc == ("userId",)


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ({"type": "page", "userId": "u1"}, "page"),
        (_track(userId=None, anonymousId="a1"), "anonymous"),
        (_track(userId=""), "anonymous"),
        (_track(event="Heartbeat"), "ignore"),
    ],
)
def test_ignored_messages(message: dict[str, Any], reason: str) -> None:
    result = interpret(message, {"Heartbeat": "ignore"}, NOW)
    assert isinstance(result, Ignored)
    assert reason in result.reason


def test_identify_traits_are_bounded() -> None:
    result = interpret(
        {"type": "identify", "userId": "u1", "traits": {"a": "x" * 20000, "b": 1}}, {}, NOW
    )
    assert isinstance(result, Identify)
    assert result.traits == {"b": 1, "_truncated": True}


def test_messages_over_32_kb_are_too_large() -> None:
    with pytest.raises(MessageTooLarge):
        interpret(_track(properties={"x": "y" * 33000}), {}, NOW)


@pytest.mark.parametrize(
    ("message", "loc"),
    [
        ("text", ()),
        ({"type": "alias2", "userId": "u"}, ("type",)),
        (_track(event=""), ("event",)),
        (_track(properties=[1]), ("properties",)),
        ({"type": "identify", "userId": "u", "traits": "x"}, ("traits",)),
        (_track(event="NPS Submitted", properties={"score": 11}), ("properties", "score")),
        (
            _track(event="Subscription Paused", properties={"resume_at": "soon"}),
            ("properties", "resume_at"),
        ),
    ],
)
def test_unusable_messages(message: Any, loc: tuple[str, ...]) -> None:
    with pytest.raises(MappingError) as raised:
        interpret(message, {}, NOW)
    assert raised.value.loc == loc


def test_traits_combine_per_customer_newest_last_within_the_cap() -> None:
    updates = [
        TraitsUpdate("b", {"k": 2, "old": True}, NOW),
        TraitsUpdate("b", {"k": 1}, NOW - timedelta(hours=1)),  # older, given later
        TraitsUpdate("a", {"x": 1}, NOW),
    ]
    combined = combine(updates)
    assert [u.customer_id for u in combined] == ["a", "b"]
    assert combined[1].traits == {"k": 2, "old": True}
    assert combined[1].at == NOW - timedelta(hours=1)
    big = [TraitsUpdate("c", {f"k{i}": "x" * 15000}, NOW + timedelta(i)) for i in range(6)]
    (capped,) = combine(big)
    assert len(json.dumps(capped.traits)) <= MAX_TRAITS_BYTES
    assert "k5" in capped.traits


# -- CloudEvents --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "headers", "mode"),
    [
        ("application/cloudevents+json; charset=utf-8", {}, "structured"),
        ("application/cloudevents-batch+json", {}, "batch"),
        ("application/json", {"ce-id": "1"}, "binary"),
        (None, {"CE-SpecVersion": "1.0"}, "binary"),
    ],
)
def test_content_mode(content_type: str | None, headers: dict[str, str], mode: str) -> None:
    assert content_mode(content_type, headers) == mode


def test_content_mode_refuses_other_formats_and_plain_json() -> None:
    with pytest.raises(UnsupportedMediaType):
        content_mode("application/cloudevents+protobuf", {})
    with pytest.raises(MappingError):
        content_mode("application/json", {"X-Other": "1"})


@pytest.mark.parametrize(
    ("ce_type", "expected"),
    [
        ("com.acme.billing.purchase", "purchase"),
        ("com.acme.plan-change", "plan_change"),
        ("PAYMENT_FAILED", "payment_failed"),
        ("com.acme.purchase.v2", None),
        ("com.acme.refund", None),
    ],
)
def test_event_type_from_the_type_suffix(ce_type: str, expected: str | None) -> None:
    assert event_type(ce_type) == expected


def test_idempotency_keys_separate_source_and_id() -> None:
    assert idempotency_key("a:b", "c") != idempotency_key("a", "b:c")
    assert idempotency_key("s", "1") == idempotency_key("s", "1")


def _attributes(**extra: Any) -> dict[str, str]:
    return {
        "ce-specversion": "1.0",
        "ce-id": "1",
        "ce-source": "/billing%20system",
        "ce-type": "x.usage",
        "ce-subject": "cus_1",
        "ce-time": "2026-06-01T10:00:00Z",
        **extra,
    }


def test_binary_headers_are_percent_decoded_and_the_body_is_data() -> None:
    ce = from_binary(_attributes(), b'{"quantity": 2, "extra": "e"}')
    payload = to_payload(ce)
    assert payload["properties"]["ce_source"] == "/billing system"
    assert (payload["quantity"], payload["properties"]["extra"]) == (2, "e")
    assert to_payload(from_binary(_attributes(), b""))["type"] == "usage"


def test_structured_data_base64_is_decoded() -> None:
    encoded = base64.b64encode(b'{"feature": "export"}').decode()
    ce = from_structured(
        {
            "specversion": "1.0",
            "id": "1",
            "source": "s",
            "type": "usage",
            "subject": "c",
            "time": "2026-06-01T10:00:00Z",
            "data_base64": encoded,
        }
    )
    assert to_payload(ce)["feature"] == "export"


def test_properties_in_data_merge_without_overriding_the_source_attributes() -> None:
    ce = CloudEvent(
        {
            "specversion": "1.0",
            "id": "1",
            "source": "s",
            "type": "usage",
            "subject": "c",
            "time": "2026-06-01T10:00:00Z",
        },
        {"properties": {"ce_source": "forged", "k": 1}, "other": 2},
    )
    assert to_payload(ce)["properties"] == {
        "ce_source": "s",
        "ce_id": "1",
        "ce_type": "usage",
        "other": 2,
        "k": 1,
    }


@pytest.mark.parametrize(
    ("data", "loc"),
    [([1, 2], ("data",)), ("text", ("data",))],
)
def test_data_must_be_an_object(data: Any, loc: tuple[str, ...]) -> None:
    ce = from_binary(_attributes(), b"")
    with pytest.raises(MappingError) as raised:
        to_payload(CloudEvent(ce.attributes, data))
    assert raised.value.loc == loc
