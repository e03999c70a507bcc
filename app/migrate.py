"""Programmatic Alembic: the CLI, the server start-up and the tests migrate through here."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine


def migrations_dir() -> Path:
    """The Alembic scripts: ``app/migrations`` inside an installed wheel (the build maps the
    top-level ``migrations/`` folder there), else ``migrations/`` beside the package in a source
    checkout (an editable install)."""
    package = Path(__file__).parent
    packaged = package / "migrations"
    return packaged if (packaged / "env.py").is_file() else package.parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), revision))


async def downgrade(engine: AsyncEngine, revision: str = "base") -> None:
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: command.downgrade(alembic_config(sync), revision))
