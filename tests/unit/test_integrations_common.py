import gzip
import json
import tracemalloc
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.errors import PayloadTooLarge
from app.events.schemas import EVENT_ADAPTER, UsageEvent
from app.integrations.common import (
    TYPED_FIELDS,
    fit_properties,
    integration_key,
    minor_units,
    parse_time,
)
from app.integrations.errors import BadRequest, UnsupportedMediaType
from app.integrations.segment.body import decompress, parse_object
from app.models import EVENT_TYPES

BASE_FIELDS = {"type", "idempotency_key", "customer_id", "occurred_at", "properties"}


def test_typed_fields_are_each_types_own_fields() -> None:
    assert set(TYPED_FIELDS) == set(EVENT_TYPES)
    assert TYPED_FIELDS["purchase"] >= {"amount", "currency", "plan", "mrr"}
    assert TYPED_FIELDS["cancellation"] >= {"reason", "comment", "effective_at"}
    assert TYPED_FIELDS["resume"] == frozenset()
    assert all(not fields & BASE_FIELDS for fields in TYPED_FIELDS.values())


@pytest.mark.parametrize(
    ("source_id", "expected"),
    [
        ("evt_1Pgc76B7WZ01zgkWwyRHS12y:1-plan", "stripe:evt_1Pgc76B7WZ01zgkWwyRHS12y:1-plan"),
        ("msg with spaces", None),
        ("é", None),
        ("x" * 300, None),
    ],
)
def test_integration_keys_are_readable_or_hashed(source_id: str, expected: str | None) -> None:
    key = integration_key("stripe", source_id)
    if expected is not None:
        assert key == expected
    else:
        assert key.startswith("stripe:sha256:")
        assert len(key) == len("stripe:sha256:") + 64
    EVENT_ADAPTER.validate_python(
        {
            "type": "usage",
            "customer_id": "c",
            "occurred_at": "2026-01-01T00:00:00Z",
            "idempotency_key": key,
        }
    )


def test_different_ids_give_different_hashed_keys() -> None:
    assert integration_key("segment", "a b") != integration_key("segment", "a  b")


def _valid_properties(properties: dict[str, Any]) -> None:
    UsageEvent.model_validate(
        {
            "type": "usage",
            "customer_id": "c",
            "occurred_at": "2026-01-01T00:00:00Z",
            "properties": properties,
        }
    )


def test_fit_properties_keeps_what_fits_untouched() -> None:
    raw = {"a": 1, "b": [1, 2.5, None, True], "c": {"d": "e"}}
    assert fit_properties(raw) == (raw, False)


def test_fit_properties_drops_offending_values_and_marks_it() -> None:
    deep: dict[str, Any] = {"leaf": 1}
    for _ in range(9):
        deep = {"n": deep}
    raw = {
        "ok": "fine",
        "nul": "a\x00b",
        "nul_key": {"k\x00": 1, "kept": 2},
        "big": 2**64,
        "nan": float("nan"),
        "deep": deep,
        "list": [1, "\x00", 2**70, 3],
    }
    fitted, dropped = fit_properties(raw)
    assert dropped
    assert fitted["ok"] == "fine"
    assert fitted["nul_key"] == {"kept": 2}
    assert fitted["list"] == [1, 3]
    assert "nul" not in fitted and "big" not in fitted and "nan" not in fitted
    assert fitted["_truncated"] is True
    _valid_properties(fitted)


def test_fit_properties_drops_whole_keys_past_16_kb() -> None:
    raw = {f"k{i}": "x" * 1000 for i in range(40)}
    fitted, dropped = fit_properties(raw)
    assert dropped
    kept = [k for k in fitted if k != "_truncated"]
    assert kept == [f"k{i}" for i in range(len(kept))]  # in order, whole keys
    size = len(json.dumps(fitted, separators=(",", ":")))
    assert size <= 16 * 1024 < size + 1010  # the next key would not have fitted
    _valid_properties(fitted)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats()
    | st.text(max_size=50),
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=10), children, max_size=6)
    ),
    max_leaves=100,
)


@given(st.dictionaries(st.text(max_size=20), json_values, max_size=12))
def test_fit_properties_always_gives_valid_properties(raw: dict[str, Any]) -> None:
    fitted, _ = fit_properties(raw)
    _valid_properties(fitted)


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (25.5, "USD", 2550),
        ("19.99", "eur", 1999),
        (0.005, "USD", 1),  # half up
        (0.004, "USD", 0),
        (1000, "JPY", 1000),
        (1.2345, "KWD", 1235),
        (10, "BHD", 10000),
        (0, "USD", 0),
    ],
)
def test_minor_units(amount: Any, currency: str, expected: int) -> None:
    assert minor_units(amount, currency) == expected


@pytest.mark.parametrize("amount", [-1, "abc", None, True, float("inf"), "NaN", [1], 10**16])
def test_minor_units_rejects(amount: Any) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        minor_units(amount, "USD")


def test_parse_time() -> None:
    assert parse_time("2026-01-01T01:00:00+01:00") == datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_time("2026-01-01T00:00:00Z") == datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_time("2026-01-01T00:00:00") == datetime(2026, 1, 1, tzinfo=UTC)
    for bad in ("yesterday", "", 1234, None, "9" * 100):
        with pytest.raises(ValueError, match="ISO 8601"):
            parse_time(bad)


# -- Segment body --------------------------------------------------------------------------------


def test_decompress_identity_and_gzip() -> None:
    body = b'{"batch": []}'
    assert decompress(body, None, 100) == body
    assert decompress(gzip.compress(body), "gzip", 100) == body
    assert decompress(gzip.compress(body), " GZIP ", len(body)) == body


def test_decompress_limits_apply_after_decompression() -> None:
    with pytest.raises(PayloadTooLarge):
        decompress(b"x" * 101, "identity", 100)
    with pytest.raises(PayloadTooLarge):
        decompress(gzip.compress(b"x" * 101), "gzip", 100)


def test_a_gzip_bomb_never_inflates_past_the_limit() -> None:
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)
    tracemalloc.start()
    try:
        with pytest.raises(PayloadTooLarge):
            decompress(bomb, "gzip", 500 * 1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024, peak


@pytest.mark.parametrize(
    ("raw", "encoding", "error"),
    [
        (b"\x1f\x8b garbage", "gzip", BadRequest),
        (gzip.compress(b"abc")[:-4], "gzip", BadRequest),
        (gzip.compress(b"abc") + b"trailing", "gzip", BadRequest),
        (b"abc", "deflate", UnsupportedMediaType),
    ],
)
def test_decompress_rejects(raw: bytes, encoding: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        decompress(raw, encoding, 1000)


@pytest.mark.parametrize("body", [b"", b"[]", b'"x"', b"{bad", b'{"a": NaN}', b"\xff"])
def test_parse_object_rejects_what_is_not_a_json_object(body: bytes) -> None:
    with pytest.raises(BadRequest):
        parse_object(body)
