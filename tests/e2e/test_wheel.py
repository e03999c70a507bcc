"""The built wheel carries the migrations: ``pip install .`` then ``holdfast migrate`` works with
no repository in sight."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import text

from app.config import Settings
from app.db import make_engine
from tests.conftest import ServerInfo, create_database, drop_database, requires_own_database
from tests.e2e.helpers import clean_env

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def test_top_level_layout_is_the_one_asked_for() -> None:
    for name in ("pyproject.toml", "README.md", "app", "migrations", "tests", "Dockerfile"):
        assert (ROOT / name).exists(), name
    assert not (ROOT / "app" / "migrations").exists(), "migrations live at the top level"
    assert "script_location = migrations" in (ROOT / "alembic.ini").read_text()


async def _migrated_version(url: str, settings: Settings) -> str | None:
    engine = make_engine(url, settings)
    try:
        async with engine.connect() as conn:
            version: str | None = await conn.scalar(text("SELECT version_num FROM alembic_version"))
            return version
    finally:
        await engine.dispose()


@requires_own_database
def test_installed_wheel_migrates_without_the_repository(
    tmp_path: Path, pg_server: ServerInfo, settings: Settings
) -> None:
    wheels = tmp_path / "wheels"
    build = [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation"]
    subprocess.run([*build, "-q", "-w", str(wheels)], check=True, capture_output=True)
    (wheel,) = wheels.glob("holdfast-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    shipped = [n for n in names if n.startswith("app/migrations/versions/") and n.endswith(".py")]
    in_repo = [p for p in (ROOT / "migrations" / "versions").glob("*.py")]
    assert len(shipped) == len(in_repo)
    assert "app/migrations/env.py" in names

    # The wheel unpacked somewhere else is the only `app` on the path; cwd has no repository.
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    name = f"holdfast_wheel_{uuid.uuid4().hex[:10]}"
    url = asyncio.run(create_database(pg_server.admin_url, name))
    try:
        env = clean_env(DATABASE_URL=url, PYTHONPATH=str(site))
        script = "import app, sys; from app.cli import main; print(app.__file__); sys.exit(main())"
        result = subprocess.run(
            [sys.executable, "-c", script, "migrate"],
            cwd=elsewhere,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines()[0].startswith(str(site)), result.stdout
        version = asyncio.run(_migrated_version(url, settings))
        newest = max(p.name for p in in_repo if p.name[0].isdigit())
        assert version is not None and f"_{version}_" in newest
    finally:
        asyncio.run(drop_database(pg_server.admin_url, name))
    assert os.listdir(elsewhere) == []
