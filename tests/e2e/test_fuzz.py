"""Schemathesis against a real ``holdfast serve``: every operation of the live OpenAPI document,
authenticated with an admin key, must give no server error, no undocumented status code, and no
response that breaks its declared schema, content type or headers.

``negative_data_rejection`` and ``positive_data_acceptance`` are deliberately not run: the batch
endpoint accepts schema-invalid items (and reports them as rejected), and some schema-valid
values are refused with 422 (an unknown cursor, a time more than a day ahead).

Real ids of seeded objects are offered to the generator for path parameters (alongside random
ones), so id-taking operations get past the 404 and exercise their logic.

    FUZZ_EXAMPLES=200 pytest tests/e2e/test_fuzz.py -s   # a longer run by hand
"""

from __future__ import annotations

import json
import os
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

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
)
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100"))
SEED = int(os.environ.get("FUZZ_SEED", "20261123"))
TIME_BOUND_S = 600


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
                ",".join(CHECKS),
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
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
    assert "Tested: " in summary

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
