import json
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import Committed, bearer
from tests.e2e.helpers import Server, clean_env, postmaster_running, run_cli

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    "command", [[], ["serve"], ["migrate"], ["create-tenant"], ["citus", "distribute"]]
)
def test_every_command_has_help(command: list[str]) -> None:
    result = run_cli(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "usage: holdfast" in result.stdout


def test_create_tenant_requires_a_name() -> None:
    result = run_cli("create-tenant")
    assert result.returncode == 2
    assert "name" in result.stderr


def test_bad_configuration_fails_fast_with_the_variable_named() -> None:
    result = run_cli("migrate", env=clean_env(DATABASE_URL="mysql://x@y/z"))
    assert result.returncode == 2
    assert "DATABASE_URL" in result.stderr


def test_an_unreachable_database_is_one_line_naming_host_and_port() -> None:
    url = "postgresql://holdfast:s3cret-pw@127.0.0.1:9/holdfast"
    for command in ("serve", "migrate"):
        result = run_cli(command, env=clean_env(DATABASE_URL=url))
        assert result.returncode == 1, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert "cannot reach PostgreSQL at 127.0.0.1:9" in lines[0]
        assert "s3cret-pw" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [("HOLDFAST_PORT", "abc"), ("HOLDFAST_DB_POOL_SIZE", "-1"), ("HOLDFAST_RETRY_AFTER_S", "x")],
)
def test_a_bad_setting_names_its_environment_variable(variable: str, value: str) -> None:
    result = run_cli("migrate", env=clean_env(**{variable: value}))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"holdfast: invalid configuration: {variable}: ")
    assert "Traceback" not in result.stderr


async def test_create_tenant_against_database_url_prints_a_working_key(
    database_url: str, committed: Committed
) -> None:
    result = run_cli("create-tenant", "acme", "--json", env=clean_env(DATABASE_URL=database_url))
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    committed.tenant_ids.append(created["tenant_id"])
    async with committed.client() as client:
        response = await client.get("/v1/api-keys", headers=bearer(created["api_key"]))
    assert response.status_code == 200
    assert [k["scopes"] for k in response.json()["items"]] == [["admin"]]


def test_serve_on_the_embedded_default_reuses_its_data_and_stops_cleanly(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = Server(data_dir)
    try:
        seconds = server.start()
        print(f"embedded start-up to ready: {seconds:.2f} s")
        assert seconds < 30
        created = run_cli("create-tenant", "acme", "--json", "--data-dir", str(data_dir))
        assert created.returncode == 0, created.stderr
        key = json.loads(created.stdout)["api_key"]
        response = httpx.get(f"{server.base_url}/v1/api-keys", headers=bearer(key))
        assert response.status_code == 200

        assert server.stop(signal.SIGINT) == 0
        deadline = time.time() + 10
        while postmaster_running(data_dir) and time.time() < deadline:
            time.sleep(0.2)
        assert not postmaster_running(data_dir), "embedded PostgreSQL still running after Ctrl-C"

        server.start()
        again = httpx.get(f"{server.base_url}/v1/api-keys", headers=bearer(key))
        assert again.status_code == 200, "data did not survive a restart"
        assert server.stop(signal.SIGTERM) == 0
        assert not postmaster_running(data_dir)
    finally:
        server.kill()


def test_serve_with_workers_shares_the_port_and_stops_them_all(tmp_path: Path) -> None:
    import psutil

    data_dir = tmp_path / "data"
    server = Server(data_dir)
    try:
        server.start("--workers", "2")
        assert server.process is not None
        workers = [
            p
            for p in psutil.Process(server.process.pid).children(recursive=True)
            if "postgres" not in p.name()
        ]
        assert len(workers) >= 2, [p.cmdline() for p in workers]
        created = run_cli("create-tenant", "acme", "--json", "--data-dir", str(data_dir))
        assert created.returncode == 0, created.stderr
        headers = bearer(json.loads(created.stdout)["api_key"])
        at = "2026-11-02T10:00:00Z"
        # A new connection per request: the kernel hands them to either worker, and each
        # sees what the others wrote (one database, read-your-writes on health).
        for n in range(6):
            response = httpx.post(
                f"{server.base_url}/v1/events",
                json={"type": "usage", "customer_id": f"c{n}", "occurred_at": at},
                headers=headers,
            )
            assert response.status_code == 201, response.text
        for n in range(6):
            health = httpx.get(f"{server.base_url}/v1/customers/c{n}/health", headers=headers)
            assert health.status_code == 200, health.text

        assert server.stop(signal.SIGTERM) == 0
        deadline = time.time() + 10
        while any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in workers):
            assert time.time() < deadline, "a worker outlived the server"
            time.sleep(0.2)
        assert not postmaster_running(data_dir)
    finally:
        server.kill()
