"""Every input is bounded: values in the OpenAPI document (strings, integers, arrays, page
sizes), batch sizes, body sizes (chunked too), JSON nesting, event properties.

The schema checks walk the live OpenAPI document, so new operations are held to the same
bounds without a new test."""

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.events.schemas import MAX_BATCH, MAX_PROPERTIES_BYTES, MAX_PROPERTIES_DEPTH
from tests.conftest import TenantInfo
from tests.factories import event

PROBLEM = "application/problem+json"
INT64_MAX = 2**63 - 1
UNKNOWN_UUID = "00000000-0000-4000-8000-000000000000"
FIXED_LENGTH_PATTERN = re.compile(r"^\^\[[^\]]+\]\{\d+\}\$$")
SELF_BOUNDED_FORMATS = {"uuid", "date-time", "date"}


def _resolve(spec: dict[str, Any], ref: str) -> dict[str, Any]:
    schema: dict[str, Any] = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return schema


def unbounded(
    spec: dict[str, Any], schema: dict[str, Any], where: str, seen: frozenset[str] = frozenset()
) -> Iterator[str]:
    """Places in ``schema`` that accept values of any size."""
    if "$ref" in schema:
        if schema["$ref"] in seen:
            return
        yield from unbounded(spec, _resolve(spec, schema["$ref"]), where, seen | {schema["$ref"]})
        return
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            yield from unbounded(spec, sub, where, seen)
    kind = schema.get("type")
    enumerated = "enum" in schema or "const" in schema
    if (
        kind == "string"
        and not enumerated
        and not (
            "maxLength" in schema
            or schema.get("format") in SELF_BOUNDED_FORMATS
            or FIXED_LENGTH_PATTERN.match(schema.get("pattern", ""))
        )
    ):
        yield f"{where}: string without maxLength"
    if kind == "integer" and not enumerated:
        top = schema.get("maximum", schema.get("exclusiveMaximum"))
        bottom = schema.get("minimum", schema.get("exclusiveMinimum"))
        if top is None or top > INT64_MAX or bottom is None or bottom < -INT64_MAX - 1:
            yield f"{where}: integer not bounded within int64"
    if kind == "array":
        items = schema.get("items", {})
        if "maxItems" not in schema and "enum" not in items:
            yield f"{where}: array without maxItems"
        yield from unbounded(spec, items, f"{where}[]", seen)
    for name, sub in schema.get("properties", {}).items():
        yield from unbounded(spec, sub, f"{where}.{name}", seen)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        yield from unbounded(spec, extra, f"{where}.*", seen)


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def fill_path(path: str, operation: dict[str, Any]) -> str:
    values = {
        p["name"]: UNKNOWN_UUID if p["schema"].get("format") == "uuid" else "x"
        for p in operation.get("parameters", [])
        if p["in"] == "path"
    }
    return path.format(**values)


def test_every_parameter_and_body_value_is_bounded(app: FastAPI) -> None:
    spec = app.openapi()
    problems = []
    checked = 0
    for path, method, operation in operations(spec):
        for parameter in operation.get("parameters", []):
            where = f"{method.upper()} {path} {parameter['in']}:{parameter['name']}"
            problems += list(unbounded(spec, parameter["schema"], where))
            checked += 1
        for media in operation.get("requestBody", {}).get("content", {}).values():
            problems += list(unbounded(spec, media["schema"], f"{method.upper()} {path} body"))
            checked += 1
    assert checked > 20
    assert problems == []


def test_the_bounds_walk_finds_unbounded_values(app: FastAPI) -> None:
    spec = app.openapi()
    found = list(
        unbounded(
            spec,
            {
                "type": "object",
                "properties": {
                    "a": {"type": "string"},
                    "b": {"type": "integer", "minimum": 0},
                    "c": {"type": "array", "items": {"type": "string", "maxLength": 3}},
                    "d": {"type": "string", "pattern": "^[A-Z]{3}$"},
                },
            },
            "t",
        )
    )
    assert found == [
        "t.a: string without maxLength",
        "t.b: integer not bounded within int64",
        "t.c: array without maxItems",
    ]


async def test_every_page_size_is_bounded(
    client: httpx.AsyncClient, app: FastAPI, tenant: TenantInfo
) -> None:
    spec = app.openapi()
    paged = [
        (path, method, operation, parameter["schema"])
        for path, method, operation in operations(spec)
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "query" and parameter["name"] == "limit"
    ]
    assert len(paged) >= 2
    for path, method, operation, schema in paged:
        assert 1 <= schema["maximum"] <= 1000, path
        url = fill_path(path, operation)
        for limit in (schema["maximum"] + 1, 0, -1, INT64_MAX + 1):
            response = await client.request(
                method.upper(), url, params={"limit": limit}, headers=tenant.headers
            )
            assert response.status_code == 422, (path, limit, response.text)
            assert response.headers["content-type"] == PROBLEM
            assert ["query", "limit"] in [e["loc"] for e in response.json()["errors"]]


@pytest.mark.parametrize("size", [0, MAX_BATCH + 1])
async def test_batch_size_is_bounded(
    client: httpx.AsyncClient, tenant: TenantInfo, size: int
) -> None:
    response = await client.post(
        "/v1/events/batch", json={"events": [event("usage")] * size}, headers=tenant.headers
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "events"]


async def test_a_full_batch_is_accepted(client: httpx.AsyncClient, tenant: TenantInfo) -> None:
    events = [event("usage", f"c{i % 7}", idempotency_key=f"k{i}") for i in range(MAX_BATCH)]
    response = await client.post(
        "/v1/events/batch", json={"events": events}, headers=tenant.headers
    )
    assert response.status_code == 200
    assert response.json()["accepted"] == MAX_BATCH


async def test_chunked_oversized_event_batch_is_413(
    client: httpx.AsyncClient, tenant: TenantInfo, app: FastAPI
) -> None:
    limit = app.state.settings.max_body_bytes
    item = json.dumps(event("usage")).encode()

    async def chunks():  # type: ignore[no-untyped-def]
        yield b'{"events": ['
        for _ in range(limit // len(item) + 2):
            yield item + b","
        yield item + b"]}"

    response = await client.post(
        "/v1/events/batch",
        content=chunks(),
        headers={**tenant.headers, "content-type": "application/json"},
    )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


async def test_deeply_nested_bodies_are_422_problems_on_every_operation(
    client: httpx.AsyncClient, app: FastAPI, tenant: TenantInfo
) -> None:
    spec = app.openapi()
    with_body = [
        (path, method, operation)
        for path, method, operation in operations(spec)
        # Protocols that are not ours answer a malformed body with their own 400: the Stripe
        # webhook (it checks the signature of the raw body before parsing it), Segment's
        # tracking API and the CloudEvents binding (tests/integrations cover them).
        if "requestBody" in operation
        and not path.startswith(
            (
                "/v1/integrations/stripe/webhook/",
                "/v1/integrations/paddle/webhook/",
                "/v1/integrations/chargebee/webhook/",
                "/segment/",
                "/v1/cloudevents",
            )
        )
    ]
    assert len(with_body) >= 8
    for path, method, operation in with_body:
        for body in (nested(5000), b'{"name": ' + nested(5000) + b"}"):
            response = await client.request(
                method.upper(),
                fill_path(path, operation),
                content=body,
                headers={**tenant.headers, "content-type": "application/json"},
            )
            assert response.status_code == 422, (method, path, response.status_code)
            assert response.headers["content-type"] == PROBLEM
            assert response.json()["errors"][0]["loc"][0] == "body"


def deep_properties(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    ("properties", "accepted"),
    [
        (deep_properties(MAX_PROPERTIES_DEPTH - 1), True),
        (deep_properties(MAX_PROPERTIES_DEPTH), False),
        ({"list": [[[[[["the eighth level"]]]]]]}, True),
        ({"list": [[[[[[["the ninth level"]]]]]]]}, False),
        (deep_properties(MAX_PROPERTIES_DEPTH + 1), False),
        ({"n": 2**63 - 1, "f": 2.5, "b": True, "none": None}, True),
        ({"n": -(2**63) - 1}, False),
        ({"list": [1, {"nul\u0000key": 1}]}, False),
        ({"blob": "x" * (MAX_PROPERTIES_BYTES - 100)}, True),
        ({"blob": "x" * (MAX_PROPERTIES_BYTES + 1)}, False),
        ({"nul": "a\u0000b"}, False),
    ],
)
async def test_event_properties_are_bounded_in_depth_size_and_content(
    client: httpx.AsyncClient, tenant: TenantInfo, properties: dict[str, Any], accepted: bool
) -> None:
    response = await client.post(
        "/v1/events", json=event("usage", properties=properties), headers=tenant.headers
    )
    assert response.status_code == (201 if accepted else 422), response.text


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("customer_id", "c" * 201),
        ("customer_id", "a\u0000b"),
        ("idempotency_key", "k" * 256),
        ("feature", "f" * 201),
        ("quantity", 2**63),
        ("quantity", -(2**63) - 1),
    ],
)
async def test_event_strings_and_integers_are_bounded(
    client: httpx.AsyncClient, tenant: TenantInfo, field: str, value: Any
) -> None:
    response = await client.post(
        "/v1/events", json={**event("usage"), field: value}, headers=tenant.headers
    )
    assert response.status_code == 422, response.text
    assert [e["loc"] for e in response.json()["errors"]] == [["body", field]]
