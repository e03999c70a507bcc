"""POST /v1/cloudevents with messages built by the CloudEvents SDK (2.x) in binary and structured
modes, and batches of structured events."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cloudevents.core.bindings.http import HTTPMessage, to_binary_event, to_structured_event
from cloudevents.core.v1.event import CloudEvent

from tests.conftest import TenantInfo, bearer, make_key

NOW = datetime.now(UTC).replace(microsecond=0)
BATCH = "application/cloudevents-batch+json"


def cloudevent(
    kind: str = "com.example.billing.purchase",
    subject: str | None = "cus_ce",
    data: dict[str, Any] | None = None,
    **attributes: Any,
) -> CloudEvent:
    attrs: dict[str, Any] = {
        "type": kind,
        "source": "https://billing.example.com/accounts/42",
        "time": NOW - timedelta(hours=1),
        **attributes,
    }
    if subject is not None:
        attrs["subject"] = subject
    return CloudEvent(
        attributes=attrs,
        data=data if data is not None else {"amount": 4900, "currency": "USD", "mrr": 4900},
    )


@pytest.fixture
async def writer(client: httpx.AsyncClient, tenant: TenantInfo) -> dict[str, str]:
    return bearer(await make_key(client, tenant, "events:write"))


async def send(
    client: httpx.AsyncClient, message: HTTPMessage, headers: dict[str, str]
) -> httpx.Response:
    return await client.post(
        "/v1/cloudevents", content=message.body, headers={**message.headers, **headers}
    )


async def timeline(
    client: httpx.AsyncClient, tenant: TenantInfo, customer: str = "cus_ce"
) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/customers/{customer}/events", headers=tenant.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


@pytest.mark.parametrize("encode", [to_binary_event, to_structured_event])
async def test_one_event_in_either_mode_is_ingested(
    client: httpx.AsyncClient, tenant: TenantInfo, writer: dict[str, str], encode: Any
) -> None:
    event = cloudevent(data={"amount": 4900, "currency": "USD", "mrr": 4900, "coupon": "X1"})
    response = await send(client, encode(event), writer)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "accepted"

    stored = (await timeline(client, tenant))[0]
    assert stored["id"] == response.json()["id"]
    assert (stored["type"], stored["amount"], stored["currency"], stored["mrr"]) == (
        "purchase",
        4900,
        "USD",
        4900,
    )
    assert stored["occurred_at"] == (NOW - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    assert stored["source"] == "cloudevents"
    assert stored["idempotency_key"].startswith("cloudevents:sha256:")
    assert stored["properties"] == {
        "ce_source": "https://billing.example.com/accounts/42",
        "ce_id": event.get_attributes()["id"],
        "ce_type": "com.example.billing.purchase",
        "coupon": "X1",
    }
    state = (await client.get("/v1/customers/cus_ce", headers=tenant.headers)).json()
    assert (state["status"], state["mrr"]) == ("active", 4900)


async def test_the_same_source_and_id_is_a_duplicate_in_any_mode(
    client: httpx.AsyncClient, tenant: TenantInfo, writer: dict[str, str]
) -> None:
    event = cloudevent(id="evt-7")
    first = await send(client, to_binary_event(event), writer)
    again = await send(client, to_structured_event(event), writer)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == {"id": first.json()["id"], "status": "duplicate"}
    other_source = cloudevent(id="evt-7", source="https://crm.example.com")
    assert (await send(client, to_binary_event(other_source), writer)).status_code == 201
    assert len(await timeline(client, tenant)) == 2


@pytest.mark.parametrize(
    ("kind", "data", "expected"),
    [
        ("com.example.app.usage", {"quantity": 3, "feature": "export"}, {"quantity": 3}),
        (
            "com.example.subscriptions.plan-change",
            {"plan": "pro", "mrr": 1900},
            {"type": "plan_change", "plan": "pro"},
        ),
        (
            "com.example.Cancellation",
            {"reason": "unused", "properties": {"survey": "q3"}},
            {"type": "cancellation", "reason": "unused"},
        ),
        ("com.example.feedback", {"nps": 8}, {"nps": 8}),
        ("com.example.resume", {}, {"type": "resume"}),
    ],
)
async def test_type_suffix_selects_the_event_type(
    client: httpx.AsyncClient,
    tenant: TenantInfo,
    writer: dict[str, str],
    kind: str,
    data: dict[str, Any],
    expected: dict[str, Any],
) -> None:
    response = await send(client, to_structured_event(cloudevent(kind, data=data)), writer)
    assert response.status_code == 201, response.text
    stored = (await timeline(client, tenant))[0]
    assert {k: stored[k] for k in expected} == expected
    if "properties" in data:
        assert stored["properties"]["survey"] == "q3"


def _without(name: str) -> HTTPMessage:
    message = to_binary_event(cloudevent())
    headers = {k: v for k, v in message.headers.items() if k != f"ce-{name}"}
    return HTTPMessage(headers=headers, body=message.body)


@pytest.mark.parametrize("name", ["id", "source", "type", "specversion", "subject", "time"])
async def test_missing_required_attributes_are_400(
    client: httpx.AsyncClient, writer: dict[str, str], name: str
) -> None:
    response = await send(client, _without(name), writer)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["loc"] == [name]


@pytest.mark.parametrize(
    ("event", "loc"),
    [
        (cloudevent(subject="not a customer id"), ["subject"]),
        (cloudevent(kind="com.example.refund"), ["type"]),
    ],
    ids=["subject outside the id alphabet", "unknown type suffix"],
)
async def test_malformed_attributes_are_400(
    client: httpx.AsyncClient, writer: dict[str, str], event: CloudEvent, loc: list[str]
) -> None:
    response = await send(client, to_structured_event(event), writer)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["loc"] == loc


async def test_another_specversion_is_400(
    client: httpx.AsyncClient, writer: dict[str, str]
) -> None:
    structured = json.loads(to_structured_event(cloudevent()).body)
    structured["specversion"] = "0.3"  # the SDK's 1.0 event refuses to carry it
    response = await client.post(
        "/v1/cloudevents",
        content=json.dumps(structured),
        headers={"Content-Type": "application/cloudevents+json", **writer},
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["loc"] == ["specversion"]


async def test_invalid_data_is_422_and_bad_bodies_400_or_415(
    client: httpx.AsyncClient, writer: dict[str, str]
) -> None:
    invalid = await send(
        client, to_structured_event(cloudevent(data={"amount": -1, "currency": "USD"})), writer
    )
    assert invalid.status_code == 422
    assert invalid.json()["errors"][0]["loc"] == ["data", "amount"]

    year_one = await send(
        client,
        to_structured_event(
            cloudevent("x.cancellation", data={"effective_at": "0001-01-01T00:00:00+03:00"})
        ),
        writer,
    )
    assert year_one.status_code == 422, year_one.text
    assert year_one.json()["errors"][0]["loc"] == ["data", "effective_at"]

    not_json = await client.post(
        "/v1/cloudevents",
        content=b"{nope",
        headers={"Content-Type": "application/cloudevents+json", **writer},
    )
    assert not_json.status_code == 400
    plain = await client.post(
        "/v1/cloudevents", json={"amount": 1}, headers=writer
    )  # no ce- headers: not a CloudEvent
    assert plain.status_code == 400
    binary = to_binary_event(cloudevent())
    text_data = await client.post(
        "/v1/cloudevents",
        content=b"hello",
        headers={**binary.headers, "Content-Type": "text/plain", **writer},
    )
    assert text_data.status_code == 415
    avro = await client.post(
        "/v1/cloudevents",
        content=b"{}",
        headers={"Content-Type": "application/cloudevents+avro", **writer},
    )
    assert avro.status_code == 415


async def test_a_batch_keeps_valid_events_and_reports_the_rest(
    client: httpx.AsyncClient, tenant: TenantInfo, writer: dict[str, str]
) -> None:
    good = json.loads(to_structured_event(cloudevent(id="b-1")).body)
    usage = json.loads(to_structured_event(cloudevent("com.example.usage", data={}, id="b-2")).body)
    no_subject = json.loads(to_structured_event(cloudevent(subject=None, id="b-3")).body)
    bad_data = json.loads(to_structured_event(cloudevent(data={"amount": "lots"}, id="b-4")).body)
    response = await client.post(
        "/v1/cloudevents",
        content=json.dumps([good, usage, no_subject, bad_data, good]),
        headers={"Content-Type": BATCH, **writer},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (2, 1, 2)
    statuses = [r["status"] for r in body["results"]]
    assert statuses == ["accepted", "accepted", "rejected", "rejected", "duplicate"]
    assert body["results"][2]["errors"][0]["loc"] == ["subject"]
    assert body["results"][3]["errors"][0]["loc"][0] == "data"
    assert len(await timeline(client, tenant)) == 2


@pytest.mark.parametrize("payload", [[], {"not": "a list"}, [{}] * 1001])
async def test_a_batch_must_be_an_array_of_1_to_1000(
    client: httpx.AsyncClient, writer: dict[str, str], payload: Any
) -> None:
    response = await client.post(
        "/v1/cloudevents", content=json.dumps(payload), headers={"Content-Type": BATCH, **writer}
    )
    assert response.status_code == 422


async def test_auth_scope_and_tenant_isolation(
    client: httpx.AsyncClient,
    tenant: TenantInfo,
    other_tenant: TenantInfo,
    writer: dict[str, str],
) -> None:
    message = to_binary_event(cloudevent())
    assert (await client.post("/v1/cloudevents", content=message.body)).status_code == 401
    reader = bearer(await make_key(client, tenant, "read"))
    assert (await send(client, message, reader)).status_code == 403
    assert (await send(client, message, writer)).status_code == 201
    hidden = await client.get("/v1/customers/cus_ce", headers=other_tenant.headers)
    assert hidden.status_code == 404


async def test_a_datacontenttype_that_is_not_a_string_is_refused_not_a_500(
    client: httpx.AsyncClient, tenant: TenantInfo
) -> None:
    event = {
        "specversion": "1.0",
        "id": "0",
        "source": "0",
        "type": "com.example.billing.purchase",
        "subject": "0",
        "time": "2000-01-01T00:00:00Z",
        "datacontenttype": [None, None],
        "data": {},
    }
    single = await client.post(
        "/v1/cloudevents",
        json=event,
        headers={**tenant.headers, "content-type": "application/cloudevents+json"},
    )
    assert single.status_code == 400, single.text
    batch = await client.post(
        "/v1/cloudevents",
        json=[event],
        headers={**tenant.headers, "content-type": "application/cloudevents-batch+json"},
    )
    assert batch.status_code == 200, batch.text
    assert batch.json()["results"][0]["errors"][0]["loc"] == ["datacontenttype"]
