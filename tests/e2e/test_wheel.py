"""The built wheel carries the migrations and every file of the package (the dashboard's assets
included): ``pip install .`` then ``holdfast migrate`` works with no repository in sight."""

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


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wheels = tmp_path_factory.mktemp("wheels")
    build = [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation"]
    subprocess.run([*build, "-q", "-w", str(wheels)], check=True, capture_output=True)
    (built,) = wheels.glob("holdfast-*.whl")
    return built


def test_the_wheel_ships_every_file_of_the_package(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    package = ROOT / "app"
    files = [p for p in package.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    missing = [str(p.relative_to(ROOT)) for p in files if str(p.relative_to(ROOT)) not in names]
    assert missing == []
    assert any(n.startswith("app/web/static/vendor/") for n in names)


@requires_own_database
def test_installed_wheel_migrates_without_the_repository(
    tmp_path: Path, pg_server: ServerInfo, settings: Settings, wheel: Path
) -> None:
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
