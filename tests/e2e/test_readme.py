"""The README's shell walkthrough, run as written against a live ``holdfast serve``: every
``sh`` block from "A first call" up to "Privacy" in order, in one bash session, with ``curl``
failing on any 4xx/5xx. Only the server address and the ``holdfast`` command are adapted, so the
documentation cannot drift from the service (dates in it must work on any day)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.helpers import Server, clean_env

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"
# Blocks that install, start servers or need outside tools are not part of the walkthrough.
SKIPPED = ("pip install", "holdfast serve", "stripe listen", "export DATABASE_URL")


def walkthrough(readme: str) -> list[str]:
    body = readme[readme.index("## A first call") : readme.index("## Privacy")]
    blocks = re.findall(r"```sh\n(.*?)```", body, re.DOTALL)
    return [b for b in blocks if not any(marker in b for marker in SKIPPED)]


def test_the_walkthrough_has_the_main_steps() -> None:
    script = "\n".join(walkthrough(README.read_text()))
    for step in (
        "create-tenant",
        "/v1/events/batch",
        "/cancellation-flows",
        "/accept",
        "/decline",
        "/v1/metrics/churn",
        "/v1/cloudevents",
        "/segment/v1/track",
    ):
        assert step in script, step  # fmt: skip


def test_the_readme_walkthrough_runs_as_written(tmp_path: Path, database_url: str) -> None:
    env = clean_env(
        DATABASE_URL=database_url,
        HOLDFAST_WEBHOOK_WORKER_ENABLED="false",
        HOLDFAST_RESCORE_INTERVAL_S="0",
    )
    server = Server(tmp_path / "data", env=env)
    server.start()
    try:
        script = "\n".join(walkthrough(README.read_text()))
        script = script.replace("http://127.0.0.1:8000", server.base_url)
        script = script.replace(".venv/bin/holdfast", f"{sys.executable} -m app.cli")
        prologue = 'set -euo pipefail\ncurl() { command curl --fail-with-body "$@"; echo; }\n'
        result = subprocess.run(
            ["bash", "-c", prologue + script],
            capture_output=True,
            text=True,
            env=env,
            timeout=180,
            check=False,
        )
    finally:
        server.kill()
        server.log.close()
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-4000:]
    assert '"status":"accepted"' in result.stdout
    assert '"status":"declined"' in result.stdout
