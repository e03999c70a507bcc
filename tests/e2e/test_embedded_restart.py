"""The embedded PostgreSQL dying under `holdfast serve`: the service restarts it by itself,
answers 503 with Retry-After meanwhile (never 500), logs one line when it notices and one when
it is back, and logs a final line on shutdown without restarting the stopped database."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.helpers import Server, clean_env, postmaster_running

pytestmark = pytest.mark.e2e

RECOVERY_S = 30.0
DOWN = "embedded PostgreSQL is down; restarting it"
BACK = "embedded PostgreSQL restarted"


def log_entries(server: Server) -> list[dict[str, Any]]:
    entries = []
    for line in server.log_path.read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


def messages(server: Server) -> list[str]:
    return [str(entry.get("msg")) for entry in log_entries(server)]


def postmaster_pid(data_dir: Path) -> int:
    return int((data_dir / "pgdata" / "postmaster.pid").read_text().splitlines()[0])


def test_a_killed_embedded_database_is_restarted_and_requests_recover(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    # No rate limit: the probe loop must see the database's answers, not 429s.
    server = Server(
        data_dir, env=clean_env(HOLDFAST_RATE_LIMIT_PER_S="0", HOLDFAST_RETRY_AFTER_S="2")
    )
    try:
        server.start()
        # Well formed but unknown: looking it up needs the database (401 when it answers).
        auth = {"Authorization": f"Bearer hf_{'a' * 12}_{'b' * 40}"}
        with httpx.Client(base_url=server.base_url, timeout=30) as client:
            assert client.get("/v1/customers/cus_1", headers=auth).status_code == 401
            old_pid = postmaster_pid(data_dir)
            os.kill(old_pid, signal.SIGKILL)
            killed_at = time.monotonic()

            unavailable = 0
            recovered_after: float | None = None
            while time.monotonic() - killed_at < RECOVERY_S:
                ready = client.get("/readyz")
                keyed = client.get("/v1/customers/cus_1", headers=auth)
                for response in (ready, keyed):
                    assert response.status_code in {200, 401, 503}, response.text
                    if response.status_code == 503:
                        unavailable += 1
                        assert response.headers["Retry-After"] == "2"
                        assert response.headers["content-type"] == "application/problem+json"
                if ready.status_code == 200 and keyed.status_code == 401:
                    recovered_after = time.monotonic() - killed_at
                    break
                time.sleep(0.1)

        assert unavailable > 0, "no request saw the outage"
        assert recovered_after is not None, (
            f"not recovered within {RECOVERY_S} s:\n{server.log_path.read_text()[-3000:]}"
        )
        print(f"recovered {recovered_after:.2f} s after SIGKILL, {unavailable} 503s meanwhile")
        assert postmaster_pid(data_dir) != old_pid
        # PostgreSQL accepts connections a moment before pg_ctl reports it started.
        while BACK not in messages(server) and time.monotonic() - killed_at < RECOVERY_S:
            time.sleep(0.1)
        seen = messages(server)
        assert seen.count(DOWN) == 1, seen
        assert seen.count(BACK) == 1, seen

        assert server.stop(signal.SIGINT) == 0
        final = messages(server)
        assert final[-1] == "stopped", final[-5:]
        # The supervisor stops before the database does: a deliberate stop is no outage.
        assert final.count(DOWN) == 1, final
        assert not postmaster_running(data_dir), "embedded PostgreSQL still running after stop"
    finally:
        server.kill()
