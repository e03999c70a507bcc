"""The input contract, checked on every endpoint: strict request models, times as strings with
an offset (body) or the shared date / date-time forms (query), ISO 4217 currencies only, and
415 for a body that is not in a media type its operation documents."""

from __future__ import annotations

import re
from typing import Any, get_args

import httpx
import pytest
from fastapi import FastAPI, routing
from pydantic import BaseModel, RootModel

from app.money import CODES
from tests.conftest import TenantInfo
from tests.factories import at, event, purchase, subscribe


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


def locs(response: httpx.Response) -> list[list[str | int]]:
    return [issue["loc"] for issue in problem(response, 422)["errors"]]


# -- times -------------------------------------------------------------------------------------


@pytest.mark.parametrize("when", [0, 1764979200, 0.5, "0", "1764979200", "2026-11-01T09:30:00"])
async def test_an_event_time_is_a_string_with_an_offset(
    client: httpx.AsyncClient, tenant: TenantInfo, when: Any
) -> None:
    response = await client.post(
        "/v1/events", json=event("usage", occurred_at=when), headers=tenant.headers
    )
    assert ["body", "occurred_at"] in locs(response)


async def test_every_body_time_refuses_a_number(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    cases = [
        ("/v1/events", event("cancellation", effective_at=0)),
        ("/v1/events", event("pause", resume_at=1e9)),
        ("/v1/health/lookup", {"customer_ids": ["cus_1"], "as_of": 0}),
    ]
    for path, body in cases:
        response = await client.post(path, json=body, headers=tenant.headers)
        assert response.status_code == 422, (path, response.text)


@pytest.mark.parametrize(
    "path",
    [
        "/v1/customers/cus_1/health",
        "/v1/metrics/summary",
        "/v1/health/backtest",
    ],
)
@pytest.mark.parametrize("as_of", ["0.5", "0", "1764979200", "2026-11-01T09:30:00"])
async def test_a_query_time_is_never_a_number(
    client: httpx.AsyncClient, tenant: TenantInfo, path: str, as_of: str
) -> None:
    await client.post("/v1/events", json=subscribe("cus_1"), headers=tenant.headers)
    response = await client.get(path, params={"as_of": as_of}, headers=tenant.headers)
    assert ["query", "as_of"] in locs(response)


RANGES = [
    ("/v1/metrics/churn", {}),
    ("/v1/metrics/cohorts", {}),
    ("/v1/metrics/cancellations", {}),
    ("/v1/metrics/ltv", {}),
    ("/v1/metrics/repeat-purchases", {}),
    ("/v1/cancellation-flows/report", {}),
    ("/v1/health/tiers", {}),
    ("/v1/customers/cus_1/health/history", {}),
]


@pytest.mark.parametrize(("path", "extra"), RANGES)
@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2026-01-01", "2026-03-01"),
        ("2026-01-01T00:00:00Z", "2026-03-01T00:00:00+01:00"),
        ("2026-01-01", "2026-03-01T00:00:00.5Z"),
    ],
)
async def test_every_time_range_takes_dates_and_date_times(
    client: httpx.AsyncClient,
    tenant: TenantInfo,
    path: str,
    extra: dict[str, str],
    start: str,
    end: str,
) -> None:
    await client.post("/v1/events", json=subscribe("cus_1"), headers=tenant.headers)
    response = await client.get(
        path, params={"start": start, "end": end, **extra}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(("path", "extra"), RANGES)
@pytest.mark.parametrize("start", ["0", "1764979200", "2026-01-01T00:00:00", "01/02/2026"])
async def test_every_time_range_refuses_other_forms(
    client: httpx.AsyncClient, tenant: TenantInfo, path: str, extra: dict[str, str], start: str
) -> None:
    await client.post("/v1/events", json=subscribe("cus_1"), headers=tenant.headers)
    response = await client.get(
        path, params={"start": start, "end": "2026-03-01", **extra}, headers=tenant.headers
    )
    assert ["query", "start"] in locs(response)


def time_parameters(openapi: dict[str, Any]) -> list[tuple[str, str, Any]]:
    found = []
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                schema = parameter["schema"]
                text = repr(schema)
                if "'format': 'date" in text:
                    found.append((f"{method.upper()} {path}", parameter["name"], schema))
    return found


async def test_every_time_parameter_has_one_shared_schema(client: httpx.AsyncClient) -> None:
    openapi = (await client.get("/openapi.json")).json()
    found = time_parameters(openapi)
    assert len(found) >= 15
    forms = set()
    for operation, name, schema in found:
        branches = schema.get("anyOf", [schema])
        branches = [b for b in branches if b.get("type") != "null"]
        formats = {b["format"] for b in branches}
        assert formats == {"date", "date-time"}, (operation, name, schema)
        forms.add(tuple(sorted((b["format"], b["pattern"]) for b in branches)))
    assert len(forms) == 1, forms


# -- strict models -----------------------------------------------------------------------------


def body_annotations(app: FastAPI) -> list[Any]:
    return [
        context.body_field.field_info.annotation
        for context in routing.iter_route_contexts(app.routes)
        if getattr(context, "body_field", None) is not None
    ]


def nested_models(annotation: Any, seen: set[type[BaseModel]]) -> None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in seen:
            return
        seen.add(annotation)
        for field in annotation.model_fields.values():
            nested_models(field.annotation, seen)
        return
    for arg in get_args(annotation):
        nested_models(arg, seen)


def test_every_request_model_is_strict_and_closed(app: FastAPI) -> None:
    from app.events.schemas import EventBatchIn, EventIn

    seen: set[type[BaseModel]] = set()
    for model in [*body_annotations(app), EventBatchIn, EventIn]:
        nested_models(model, seen)
    assert len(seen) >= 20
    models = [m for m in seen if not issubclass(m, RootModel)]  # a root model has no fields
    assert [m.__qualname__ for m in models if not m.model_config.get("strict")] == []
    assert [m.__qualname__ for m in models if m.model_config.get("extra") != "forbid"] == []


@pytest.mark.parametrize(
    ("method", "path", "body", "loc"),
    [
        ("PUT", "/v1/plans/pro", {"name": "P", "price": 4900.5, "currency": "USD"}, "price"),
        ("PUT", "/v1/plans/pro", {"name": "P", "price": "4900", "currency": "USD"}, "price"),
        ("PUT", "/v1/plans/pro", {"name": "P", "price": 1, "currency": "USD", "active": 1},
         "active"),
        ("PUT", "/v1/settings/signals", {"inactive": {"enabled": 0}}, "inactive"),
        ("PUT", "/v1/settings/signals", {"inactive": {"days": 14.5}}, "inactive"),
        ("PUT", "/v1/settings/health", {"usage": {"new_customer_days": 0.5}}, "usage"),
        ("PUT", "/v1/settings/offers", {"keep_days": "30"}, "keep_days"),
        ("POST", "/v1/webhooks", {"url": "https://x.example", "event_types": "*"}, "event_types"),
        ("POST", "/v1/events", event("usage", quantity=2.5), "quantity"),
        ("POST", "/v1/events", event("feedback", nps="9"), "nps"),
        ("POST", "/v1/api-keys", {"name": "k", "scopes": "read"}, "scopes"),
    ],
)  # fmt: skip
async def test_no_lax_coercion(
    client: httpx.AsyncClient,
    tenant: TenantInfo,
    method: str,
    path: str,
    body: dict[str, Any],
    loc: str,
) -> None:
    response = await client.request(method, path, json=body, headers=tenant.headers)
    assert response.status_code == 422, response.text
    assert any(loc in issue["loc"] for issue in response.json()["errors"]), response.text


# -- currencies --------------------------------------------------------------------------------


def test_the_currency_list_is_iso_4217() -> None:
    assert {"USD", "EUR", "JPY", "GBP", "CHF", "BHD"} <= set(CODES)
    assert not {"XYZ", "ABC", "XXX", "XTS", "usd"} & set(CODES)
    assert all(re.fullmatch(r"[A-Z]{3}", code) for code in CODES)


@pytest.mark.parametrize("currency", ["XYZ", "usd", "US", "EURO"])
async def test_every_currency_input_takes_only_iso_4217_codes(
    client: httpx.AsyncClient, tenant: TenantInfo, currency: str
) -> None:
    h = tenant.headers
    cases: list[tuple[str, str, dict[str, Any] | None, dict[str, str] | None]] = [
        ("POST", "/v1/events", purchase(currency=currency), None),
        ("POST", "/v1/events", event("plan_change", plan="pro", mrr=1, currency=currency), None),
        ("POST", "/v1/events", event("payment_failed", amount=1, currency=currency), None),
        ("PUT", "/v1/plans/pro", {"name": "Pro", "price": 4900, "currency": currency}, None),
        (
            "POST",
            "/v1/offers",
            {
                "kind": "custom",
                "title": "Call us",
                "rules": [{"field": "mrr", "op": ">=", "value": 1, "currency": currency}],
            },
            None,
        ),
        ("GET", "/v1/metrics/summary", None, {"currency": currency}),
        ("GET", "/v1/metrics/churn", None, {"start": "2026-01-01", "end": "2026-02-01",
                                             "currency": currency}),
    ]  # fmt: skip
    for method, path, body, params in cases:
        response = await client.request(method, path, json=body, params=params, headers=h)
        assert response.status_code == 422, (method, path, response.text)
        assert any("currency" in issue["loc"] for issue in response.json()["errors"])


async def test_an_integration_message_in_an_unknown_currency_is_refused(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    segment = await client.post(
        "/segment/v1/track",
        json={
            "userId": "cus_1",
            "event": "Order Completed",
            "messageId": "m-xyz",
            "timestamp": at(1),
            "properties": {"revenue": 10, "currency": "XYZ"},
        },
        auth=(tenant.admin_key, ""),
    )
    assert segment.status_code == 400, segment.text
    stored = await client.get("/v1/customers/cus_1/events", headers=tenant.headers)
    assert stored.status_code == 404


# -- media types -------------------------------------------------------------------------------


def operations_with_a_body(
    openapi: dict[str, Any],
) -> list[tuple[str, str, list[str], list[str | None]]]:
    out = []
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            if "requestBody" in operation:
                concrete = re.sub(r"\{[^}]+\}", "x1", path)
                accepted = list(operation["requestBody"]["content"])
                refused: list[str | None] = ["text/plain", "text/html", "multipart/form-data"]
                refused = [m for m in refused if m not in accepted]
                if not operation.get("x-untyped-body-ok"):
                    refused.append(None)
                out.append((method.upper(), concrete, accepted, refused))
    return out


async def test_every_operation_with_a_body_answers_415_to_other_media_types(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    openapi = (await client.get("/openapi.json")).json()
    operations = operations_with_a_body(openapi)
    assert len(operations) >= 20
    assert sum(None not in refused for *_, refused in operations) == 1  # CloudEvents binary mode
    for method, path, accepted, refused in operations:
        for content_type in refused:
            headers = {**tenant.headers}
            if content_type:
                headers["content-type"] = content_type
            response = await client.request(method, path, content=b"{}", headers=headers)
            assert response.status_code == 415, (method, path, content_type, response.text)
            body = problem(response, 415)
            for media in accepted:
                assert media in body["detail"]


async def test_415_is_declared_wherever_a_body_is_taken(client: httpx.AsyncClient) -> None:
    openapi = (await client.get("/openapi.json")).json()
    for operations in openapi["paths"].values():
        for operation in operations.values():
            if "requestBody" in operation:
                assert "415" in operation["responses"], operation["operationId"]


async def test_json_with_a_charset_and_the_integrations_media_types_still_work(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    import json

    response = await client.post(
        "/v1/events",
        content=json.dumps(event("usage")).encode(),
        headers={**tenant.headers, "content-type": "Application/JSON; charset=utf-8"},
    )
    assert response.status_code == 201, response.text
    structured = {
        "specversion": "1.0",
        "id": "ce-1",
        "source": "https://app.example.com",
        "type": "com.example.usage",
        "subject": "cus_2",
        "time": at(1),
        "data": {"feature": "export"},
    }
    response = await client.post(
        "/v1/cloudevents",
        content=json.dumps(structured).encode(),
        headers={**tenant.headers, "content-type": "application/cloudevents+json"},
    )
    assert response.status_code == 201, response.text
    response = await client.post(
        "/v1/cloudevents",
        content=json.dumps([{**structured, "id": "ce-2"}]).encode(),
        headers={**tenant.headers, "content-type": "application/cloudevents-batch+json"},
    )
    assert response.status_code == 200, response.text
    response = await client.post(
        "/v1/cloudevents",
        content=json.dumps({"feature": "export"}).encode(),
        headers={
            **tenant.headers,
            "content-type": "application/json",
            **{f"ce-{k}": v for k, v in structured.items() if k not in {"data", "id"}},
            "ce-id": "ce-3",
        },
    )
    assert response.status_code == 201, response.text


async def test_a_body_less_request_is_not_a_media_type_question(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    response = await client.post("/v1/events", headers=tenant.headers)
    assert response.status_code == 422, response.text


# -- cursors -----------------------------------------------------------------------------------

CURSOR_LISTS = [
    ("/v1/customers", "0~a"),
    ("/v1/customers/cus_1/events", "0-" + "0" * 32),
    ("/v1/audit-log", "0-" + "0" * 32),
]


async def test_every_cursor_declares_a_pattern(client: httpx.AsyncClient) -> None:
    openapi = (await client.get("/openapi.json")).json()
    cursors = [
        (path, parameter["schema"])
        for path, operations in openapi["paths"].items()
        for operation in operations.values()
        for parameter in operation.get("parameters", [])
        if parameter["name"] == "cursor"
    ]
    assert len(cursors) == 4
    for path, schema in cursors:
        branch = next(b for b in schema.get("anyOf", [schema]) if b.get("type") == "string")
        assert branch["pattern"].startswith("^") and branch["pattern"].endswith("$"), path


@pytest.mark.parametrize(
    "cursor",
    [
        "0~a",
        "~a",
        "42.86~cus_1",
        "1e-05~zzz",
        "-3~cus_2",
        "99999999999999999999~x",
        "0-" + "0" * 32,
        "9999999999999999-" + "f" * 32,
        "1764979200000000-0123456789abcdef0123456789abcdef",
    ],
)
async def test_any_cursor_of_the_declared_pattern_is_a_position(
    client: httpx.AsyncClient, tenant: TenantInfo, cursor: str
) -> None:
    await client.post("/v1/events", json=subscribe("cus_1"), headers=tenant.headers)
    time_id = "~" not in cursor
    paths = (
        ["/v1/customers/cus_1/events", "/v1/audit-log"]
        if time_id
        else ["/v1/customers", "/v1/customers?order=-score", "/v1/customers?order=customer_id"]
    )
    for path in paths:
        response = await client.get(path, params={"cursor": cursor}, headers=tenant.headers)
        assert response.status_code == 200, (path, response.text)


async def test_cursors_page_through_in_order(client: httpx.AsyncClient, tenant: TenantInfo) -> None:
    events = [event("usage", "cus_1", at(0, hours=i), idempotency_key=f"k{i}") for i in range(7)]
    await client.post("/v1/events/batch", json={"events": events}, headers=tenant.headers)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (
            await client.get("/v1/customers/cus_1/events", params=params, headers=tenant.headers)
        ).json()
        seen += [item["idempotency_key"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert re.fullmatch(r"[0-9]{1,16}-[0-9a-f]{32}", cursor)
    assert seen == [f"k{i}" for i in reversed(range(7))]
    for order in ("score", "-score", "customer_id"):
        names: list[str] = []
        cursor = None
        for _ in range(10):
            params = {"limit": 1, "order": order, **({"cursor": cursor} if cursor else {})}
            page = (await client.get("/v1/customers", params=params, headers=tenant.headers)).json()
            names += [c["customer_id"] for c in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert names == ["cus_1"]


async def test_an_integral_json_number_is_an_integer(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    # JSON (and JSON Schema) has one number type: 4900.0 is the integer 4900.
    response = await client.put(
        "/v1/plans/pro",
        json={"name": "Pro", "price": 4900.0, "currency": "USD"},
        headers=tenant.headers,
    )
    assert response.status_code in (200, 201), response.text
    assert response.json()["price"] == 4900
