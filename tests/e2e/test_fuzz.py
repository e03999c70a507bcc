"""Schemathesis against a real ``holdfast serve`` with every check (``--checks all``): every
operation of the live OpenAPI document, authenticated with an admin key, must give no server
error, no undocumented status code, no response that breaks its declared schema, content type
or headers, and accept no schema-violating request.

A schema-valid request may be refused only for a rule OpenAPI cannot express (one parameter
against another, a time relative to now, a signature): those are listed in ``ALLOWED_REFUSALS``
below and in docs/reliability.md (a test keeps the two equal). Any other refusal of a valid
request fails the test.

Real ids of seeded objects are offered to the generator for path parameters (alongside random
ones), so id-taking operations get past the 404 and exercise their logic.

    FUZZ_EXAMPLES=100 pytest tests/e2e/test_fuzz.py -s   # a longer run by hand
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Committed, bearer
from tests.e2e.helpers import Server, clean_env, run_cli
from tests.factories import at, event, subscribe

pytestmark = pytest.mark.e2e

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))
SEED = int(os.environ.get("FUZZ_SEED", "20261123"))
TIME_BOUND_S = 600
RELIABILITY = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"

# Operation -> the refusals of schema-valid requests it may give, as text of the problem
# detail. Each is a rule between values that OpenAPI cannot state (docs/reliability.md).
ALLOWED_REFUSALS: dict[str, tuple[str, ...]] = {
    "GET /v1/metrics/churn": ("start must be before end", "; at most"),
    "GET /v1/metrics/cohorts": ("start must be before end", "; at most"),
    "GET /v1/metrics/cancellations": ("start must be before end",),
    "GET /v1/metrics/ltv": ("start must be before end", "; at most"),
    "GET /v1/metrics/repeat-purchases": ("start must be before end",),
    "GET /v1/cancellation-flows/report": ("end must be after start",),
    "GET /v1/health/tiers": ("start must not be after end", "at most 366 days"),
    "GET /v1/health/backtest": ("must not be in the future",),
    "GET /v1/customers/{customer_id}/health": ("must not be in the future",),
    "POST /v1/health/lookup": ("must not be in the future",),
    "POST /v1/events": (
        "feedback needs nps or comment",
        "more than 24 hours in the future",
        "must not be before occurred_at",
        "must be after occurred_at",
        "currency is required with amount",
        "discount_until requires mrr",
    ),
    "POST /v1/cloudevents": ("not a CloudEvent", "data does not make a valid event"),
    "POST /segment/v1/batch": ("The body is not valid JSON",),
    "POST /segment/v1/track": ("The body is not valid JSON",),
    "POST /segment/v1/identify": ("The body is not valid JSON",),
    "POST /v1/integrations/stripe/webhook/{tenant_id}": ("Stripe-Signature header is missing",),
    "POST /v1/integrations/paddle/webhook/{tenant_id}": ("Paddle-Signature header is missing",),
    "POST /v1/integrations/chargebee/webhook/{tenant_id}": ("Authorization header is missing",),
    "POST /v1/offers": ("No plan",),
    "PATCH /v1/offers/{offer_id}": ("kind cannot change",),
    "PUT /v1/integrations/segment/mappings": ("each event_name may appear once",),
    "PUT /v1/settings/health": ("must be less than", "cannot exceed"),
}
_SECTION = re.compile(r"^_{3,} ([A-Z]+ \S+) _{3,}$", re.MULTILINE)
_CASE = re.compile(r"^\d+\. Test Case ID", re.MULTILINE)


def failures(output: str) -> list[tuple[str, set[str], str]]:
    """(operation, failed check codes, response text) of every failure schemathesis printed."""
    found = []
    report = output.split("WARNINGS")[0].split("SUMMARY")[0]
    headers = list(_SECTION.finditer(report))
    for header, following in zip(headers, [*headers[1:], None], strict=True):
        body = report[header.end() : following.start() if following else len(report)]
        for case in _CASE.split(body)[1:]:
            codes = set(re.findall(r"^- ([A-Z]{2}[0-9]{3}|[A-Za-z ]+?) ", case, re.MULTILINE))
            found.append((header.group(1), codes, case))
    return found


def unexpected(output: str) -> list[str]:
    out = []
    for operation, codes, text in failures(output):
        allowed = ALLOWED_REFUSALS.get(operation, ())
        if codes == {"ST202"} and any(rule in text for rule in allowed):
            continue
        out.append(f"{operation} {sorted(codes)}:\n{text.strip()[:1500]}")
    return out


def seed(base_url: str, key: str) -> dict[str, list[str]]:
    """Objects for the id-taking operations to find; returns candidate values per parameter."""
    headers = bearer(key)
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:

        def ok(response: httpx.Response) -> Any:
            assert response.status_code < 300, response.text
            return response.json()

        customers = ["cus_fuzz_1", "cus_fuzz_2"]
        ok(
            client.post(
                "/v1/events/batch",
                json={
                    "events": [
                        *(subscribe(c, at(0)) for c in customers),
                        *(event("usage", c, at(1), quantity=2) for c in customers),
                        event("cancellation", customers[1], at(2), reason="unused"),
                    ]
                },
            )
        )
        plan = "plan_fuzz"
        ok(client.put(f"/v1/plans/{plan}", json={"name": "F", "price": 900, "currency": "USD"}))
        offer = ok(client.post("/v1/offers", json={"kind": "custom", "title": "Call us"}))["id"]
        webhooks = [
            ok(
                client.post(
                    "/v1/webhooks",
                    json={"url": f"https://hooks.example.com/{n}", "event_types": ["*"]},
                )
            )["id"]
            for n in range(2)
        ]
        spare_key = ok(client.post("/v1/api-keys", json={"name": "spare", "scopes": ["read"]}))
    return {
        "customer_id": customers,
        "plan_id": [plan],
        "offer_id": [offer],
        "webhook_id": webhooks,
        # Never the admin key's own id: revoking it would end the run's authentication.
        "key_id": [spare_key["id"]],
    }


def config_file(path: Path, ids: dict[str, list[str]]) -> Path:
    lines = []
    for name, values in ids.items():
        lines.append(f"[dictionaries.{name}]")
        lines.append(f"values = {json.dumps(values)}")
    lines.append("[parameters]")
    for name in ids:
        lines.append(f'"path.{name}" = {{ dictionary = "{name}", probability = 0.7 }}')
    path.write_text("\n".join(lines) + "\n")
    return path


def test_schemathesis_finds_no_failure(
    tmp_path: Path, database_url: str, committed: Committed
) -> None:
    env = clean_env(
        DATABASE_URL=database_url,
        HOLDFAST_WEBHOOK_WORKER_ENABLED="false",
        HOLDFAST_LOG_LEVEL="INFO",
        # One fuzzing client outpaces the default per-key limit; 429s would crowd out the
        # requests worth making (the limiter's own answers are tested in test_rate_limits.py).
        HOLDFAST_RATE_LIMIT_PER_S="5000",
        HOLDFAST_RATE_LIMIT_BURST="5000",
    )
    created = run_cli("create-tenant", "fuzz", "--json", env=env)
    assert created.returncode == 0, created.stderr
    tenant = json.loads(created.stdout)
    committed.tenant_ids.append(tenant["tenant_id"])
    key = tenant["api_key"]

    server = Server(tmp_path / "data", env=env)
    try:
        server.start()
        config = config_file(tmp_path / "schemathesis.toml", seed(server.base_url, key))
        started = time.perf_counter()
        result = subprocess.run(
            [
                str(Path(sys.executable).parent / "schemathesis"),
                "--config-file",
                str(config),
                "--no-color",
                "run",
                f"{server.base_url}/openapi.json",
                "-H",
                f"Authorization: Bearer {key}",
                "--checks",
                "all",
                "--max-examples",
                str(EXAMPLES),
                "--seed",
                str(SEED),
                # One worker: with two, hypothesis' lambda descriptions call ast.parse from
                # several threads, which CPython 3.11 can fail with "AST constructor recursion
                # depth mismatch" (a crash of the tool, not a finding).
                "--workers",
                "1",
                "--generation-database",
                "none",
                "--request-timeout",
                "30",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=TIME_BOUND_S,
            check=False,
        )
        seconds = time.perf_counter() - started
    finally:
        server.kill()
        server.log.close()

    summary = result.stdout[result.stdout.find("SUMMARY") :] if "SUMMARY" in result.stdout else ""
    print(f"schemathesis: {EXAMPLES} examples per operation, seed {SEED}, {seconds:.1f} s")
    print(summary or result.stdout[-4000:])
    assert "Tested: " in summary, result.stdout[-20000:] + result.stderr[-5000:]
    assert "Errors:" not in summary, summary  # the tool itself failed somewhere
    found = unexpected(result.stdout)
    assert found == [], "\n\n".join(found)

    server_log = server.log_path.read_text()
    statuses = Counter(
        entry["status"]
        for entry in map(json.loads, filter(None, server_log.splitlines()))
        if entry.get("logger") == "holdfast.access"
    )
    print(f"responses by status: {dict(sorted(statuses.items()))}")
    assert sum(count for status, count in statuses.items() if status >= 500) == 0
    assert key not in server_log and key.rsplit("_", 1)[1] not in server_log
    assert '"unhandled error"' not in server_log


def test_the_allowed_refusals_are_the_documented_ones() -> None:
    text = RELIABILITY.read_text()
    section = text[text.index("## Schema-valid requests that are refused") :]
    documented = set(re.findall(r"^\| `([A-Z]+ [^`]+)` \|", section, re.MULTILINE))
    assert documented == set(ALLOWED_REFUSALS)
