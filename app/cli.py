"""The ``holdfast`` command line: serve, migrate, create-tenant, demo, rescore (and scan
lifecycle signals), citus distribute."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from app.config import Settings
from app.db import Database, make_engine, session_factory
from app.embedded import EmbeddedPostgres
from app.observability import configure_logging
from app.supervisor import EmbeddedSupervisor

logger = logging.getLogger("holdfast.cli")

EMBEDDED_DATABASE = "holdfast"


@contextmanager
def database_url(settings: Settings, *, supervise: bool = False) -> Iterator[str]:
    """The configured DATABASE_URL, or an embedded server's (started here, stopped on exit
    unless another process still uses it; with ``supervise``, restarted if it dies meanwhile)."""
    if settings.database_url is not None:
        yield settings.database_url
        return
    embedded = EmbeddedPostgres(settings.data_dir)
    started = time.perf_counter()
    embedded.start()
    supervisor = EmbeddedSupervisor(embedded) if supervise else None
    try:
        asyncio.run(_ensure_database(embedded.url("postgres"), EMBEDDED_DATABASE, settings))
        logger.info(
            "embedded PostgreSQL ready",
            extra={
                "data_dir": str(embedded.pgdata),
                "seconds": round(time.perf_counter() - started, 2),
            },
        )
        if supervisor is not None:
            supervisor.start()
        yield embedded.url(EMBEDDED_DATABASE)
    finally:
        if supervisor is not None:
            supervisor.stop()
        embedded.stop()


async def _ensure_database(admin_url: str, name: str, settings: Settings) -> None:
    from sqlalchemy import text

    engine = make_engine(admin_url, settings, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            exists = await conn.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            )
            if not exists:
                await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()


async def _migrate(url: str, settings: Settings) -> None:
    from app.migrate import upgrade

    engine = make_engine(url, settings)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


async def _with_database(
    url: str, settings: Settings, job: Callable[[Database], Awaitable[str]]
) -> str:
    """Run ``job`` on a database opened for it, and close it after."""
    database = Database.from_url(url, settings)
    try:
        return await job(database)
    finally:
        await database.dispose()


def _run_job(settings: Settings, job: Callable[[Database], Awaitable[str]]) -> int:
    """A command that migrates the database, runs ``job`` on it and prints what it says."""
    with database_url(settings) as url:
        asyncio.run(_migrate(url, settings))
        print(asyncio.run(_with_database(url, settings, job)))
    return 0


async def _demo(database: Database, settings: Settings, args: argparse.Namespace) -> str:
    from app.demo.loader import load_demo, progress_bar

    result = await load_demo(
        database,
        customers=args.customers,
        months=args.months,
        seed=args.seed,
        progress=progress_bar(),
    )
    base = f"http://{settings.host}:{settings.port}"
    return "\n".join(
        [
            f"demo tenant {result.tenant_id}: {result.events} events "
            f"({result.accepted} new, {result.duplicates} already loaded)"
            f" in {result.seconds:.0f} s",
            f"dashboard     {base}/dashboard",
            f"read API key  {result.read_key}   (sign in to the dashboard with this)",
            f"admin API key {result.admin_key}",
        ]
    )


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    return _run_job(settings, lambda database: _demo(database, settings, args))


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from app.main import create_app

    # uvicorn shuts down gracefully on SIGINT/SIGTERM and then re-raises the signal; turning
    # SIGTERM into SystemExit lets the embedded database stop in the ``finally`` below instead of
    # the process dying with it still running.
    signal.signal(signal.SIGTERM, _raise_system_exit)
    try:
        with database_url(settings, supervise=True) as url:
            asyncio.run(_migrate(url, settings))
            if args.demo:
                demo = asyncio.run(
                    _with_database(url, settings, lambda database: _demo(database, settings, args))
                )
                print(demo, flush=True)
            logger.info(
                "serving",
                extra={
                    "url": f"http://{settings.host}:{settings.port}",
                    "workers": settings.workers,
                },
            )
            options: dict[str, Any] = {
                "host": settings.host,
                "port": settings.port,
                "log_config": None,
                "proxy_headers": True,
                "server_header": False,
                "timeout_graceful_shutdown": 10,
            }
            if settings.workers == 1:
                uvicorn.run(
                    create_app(settings.model_copy(update={"database_url": url})), **options
                )
            else:
                # Worker processes build the app from the environment: hand them the database
                # this process resolved (and supervises, when embedded).
                os.environ["HOLDFAST_DATABASE_URL"] = url
                uvicorn.run(
                    "app.main:create_worker_app",
                    factory=True,
                    workers=settings.workers,
                    **options,
                )
    except KeyboardInterrupt:
        pass
    logger.info("stopped")
    return 0


def _raise_system_exit(signum: int, frame: object) -> None:
    raise SystemExit(0)


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    with database_url(settings) as url:
        asyncio.run(_migrate(url, settings))
    print("database schema is up to date")
    return 0


async def _create_tenant(url: str, settings: Settings, name: str) -> tuple[str, str]:
    from app.onboarding import create_tenant

    engine = make_engine(url, settings)
    try:
        async with session_factory(engine)() as session, session.begin():
            tenant, key = await create_tenant(session, name)
            return str(tenant.id), key.plaintext
    finally:
        await engine.dispose()


def cmd_create_tenant(args: argparse.Namespace, settings: Settings) -> int:
    with database_url(settings) as url:
        asyncio.run(_migrate(url, settings))
        tenant_id, key = asyncio.run(_create_tenant(url, settings, args.name))
    if args.json:
        print(json.dumps({"tenant_id": tenant_id, "name": args.name, "api_key": key}))
    else:
        print(f"tenant  {args.name}")
        print(f"id      {tenant_id}")
        print(f"api key {key}")
        print("The admin API key is shown once; Holdfast stores only its hash.")
    return 0


async def _rescore(database: Database) -> str:
    from app.scheduler import periodic_round

    report = await periodic_round(database)
    return (
        f"rescored {report.customers} customers of {report.tenants} tenants in "
        f"{report.seconds:.1f} s ({report.tier_changes} tier changes, {report.churned} churned, "
        f"{report.reactivated} reactivated, {report.signals} lifecycle signals)"
    )


def cmd_rescore(args: argparse.Namespace, settings: Settings) -> int:
    return _run_job(settings, _rescore)


async def _distribute(url: str, settings: Settings, shard_count: int | None) -> list[str]:
    import app.models  # noqa: F401  (registers every table)
    from app.citus.service import distribute
    from app.models.base import Base

    engine = make_engine(url, settings)
    try:
        async with engine.begin() as conn:
            report = await conn.run_sync(
                lambda sync: distribute(sync, Base.metadata, shard_count=shard_count)
            )
    finally:
        await engine.dispose()
    return report.lines()


def cmd_citus_distribute(args: argparse.Namespace, settings: Settings) -> int:
    from app.citus.service import CitusUnavailable, LayoutConflict

    with database_url(settings) as url:
        asyncio.run(_migrate(url, settings))
        try:
            lines = asyncio.run(_distribute(url, settings, args.shard_count))
        except (CitusUnavailable, LayoutConflict) as exc:
            print(f"holdfast citus distribute: {exc}; nothing was changed", file=sys.stderr)
            return 1
    print("\n".join(lines))
    return 0


async def _train(database: Database) -> str:
    from app.health.jobs import train_all

    report = await train_all(database, force=True)
    return (
        f"trained {report.trained} of {report.tenants} tenants in {report.seconds:.1f} s "
        f"({report.active} use the learned model; the others keep the expert model)"
    )


def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    return _run_job(settings, _train)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="holdfast",
        description="Holdfast retention-event service. Without DATABASE_URL, commands use an "
        "embedded PostgreSQL under --data-dir.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def demo_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--customers", type=int, default=2000, help="demo customers (default 2000)")
        p.add_argument("--months", type=int, default=12, help="months of history (default 12)")
        p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")

    def with_data_dir(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--data-dir",
            type=Path,
            default=None,
            help="embedded database directory (default: ./.holdfast or HOLDFAST_DATA_DIR)",
        )

    serve = sub.add_parser(
        "serve",
        help="migrate the database and serve the HTTP API",
        description="Migrate the database and serve the HTTP API.",
    )
    serve.add_argument("--host", default=None, help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default 8000)")
    serve.add_argument(
        "--workers",
        type=int,
        default=None,
        help="server processes, about one per core (default 1 or HOLDFAST_WORKERS)",
    )
    with_data_dir(serve)
    serve.add_argument(
        "--demo",
        action="store_true",
        help="load the demo tenant and its history first (see `holdfast demo`)",
    )
    demo_options(serve)
    serve.set_defaults(handler=cmd_serve)

    migrate = sub.add_parser(
        "migrate",
        help="apply database migrations",
        description="Apply all database migrations (alembic upgrade head).",
    )
    with_data_dir(migrate)
    migrate.set_defaults(handler=cmd_migrate)

    tenant = sub.add_parser(
        "create-tenant",
        help="create a tenant and print its first admin API key",
        description="Create a tenant and print its id and first admin API key (shown once).",
    )
    tenant.add_argument("name", help="the tenant's display name")
    tenant.add_argument("--json", action="store_true", help="print JSON")
    with_data_dir(tenant)
    tenant.set_defaults(handler=cmd_create_tenant)
    demo = sub.add_parser(
        "demo",
        help="create a demo tenant with a year of realistic history",
        description="Create (or reuse) the demo tenant and load a realistic history through the "
        "ingest path: customers on 3 plans, usage that fades before cancellations, pauses, failed "
        "payments, NPS answers. Deterministic per --seed; running it twice stores nothing new. "
        "Prints the dashboard URL and API keys.",
    )
    with_data_dir(demo)
    demo_options(demo)
    demo.set_defaults(handler=cmd_demo)

    rescore = sub.add_parser(
        "rescore",
        help="recompute every customer's health score, write the daily snapshot, scan signals",
        description="Recompute every customer's health score, write today's snapshot, queue "
        "webhooks for tier changes and scan each tenant's lifecycle signals (the server also "
        "does this every HOLDFAST_RESCORE_INTERVAL_S seconds).",
    )
    with_data_dir(rescore)
    rescore.set_defaults(handler=cmd_rescore)

    citus = sub.add_parser(
        "citus",
        help="scale out on a Citus cluster",
        description="Scale out on a Citus cluster (see docs/scaling.md).",
    )
    citus_sub = citus.add_subparsers(dest="citus_command", required=True, metavar="COMMAND")
    distribute = citus_sub.add_parser(
        "distribute",
        help="make tenants and api_keys reference tables, distribute the rest by tenant_id",
        description="Migrate, then make tenants and api_keys reference tables and distribute "
        "every tenant-owned table by tenant_id in one colocation group, in one transaction. "
        "Idempotent: run again, it reports what is already in place and changes nothing. "
        "Refuses (exit 1) without the citus extension or worker nodes.",
    )
    distribute.add_argument(
        "--shard-count",
        type=int,
        default=None,
        help="shards per table for a new colocation group (default: citus.shard_count)",
    )
    with_data_dir(distribute)
    distribute.set_defaults(handler=cmd_citus_distribute)

    train = sub.add_parser(
        "train",
        help="train every tenant's learned health model now",
        description="Train each tenant's learned health model on its own history and store it; "
        "it is used only where it beats the expert model out of time (the server retrains "
        "daily after the periodic rescore).",
    )
    with_data_dir(train)
    train.set_defaults(handler=cmd_train)
    return parser


def invalid_settings(exc: ValidationError) -> list[str]:
    """One line per bad setting, naming the environment variable that holds it."""
    lines = []
    for error in exc.errors(include_url=False):
        field = str(error["loc"][0]) if error["loc"] else ""
        variable = Settings.environment_variable(field)
        value = error.get("input")
        shown = "" if field == "database_url" else f" (got {value!r})"
        lines.append(f"{variable}: {error['msg']}{shown}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    overrides = {
        key: value
        for key, value in (
            ("host", getattr(args, "host", None)),
            ("port", getattr(args, "port", None)),
            ("workers", getattr(args, "workers", None)),
            ("data_dir", getattr(args, "data_dir", None)),
        )
        if value is not None
    }
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        for line in invalid_settings(exc):
            print(f"holdfast: invalid configuration: {line}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    handler = args.handler
    try:
        result: int = handler(args, settings)
    except Exception as exc:
        from app.problems import _sqlstate, is_database_unavailable

        # Unreachable, refused credentials, no such database: the operator's to fix.
        operator_error = is_database_unavailable(exc) or _sqlstate(exc) in {
            "28000",
            "28P01",
            "3D000",
        }
        if settings.database_url is None or not operator_error:
            raise
        print(f"holdfast: {unreachable(settings.database_url, exc)}", file=sys.stderr)
        return 1
    return result


def unreachable(url: str, exc: BaseException) -> str:
    """One line for an operator: where the database was looked for (never the password), and
    why it did not answer."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    where = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
    if parsed.database:
        where += f" (database {parsed.database!r}, user {parsed.username!r})"
    root: BaseException = exc
    for _ in range(20):  # the innermost cause, bounded in case of a cycle
        inner = root.__cause__ or root.__context__
        if inner is None:
            break
        root = inner
    reason = str(root).replace(parsed.password or "\0", "***") if parsed.password else str(root)
    return f"cannot reach PostgreSQL at {where}: {type(root).__name__}: {reason}"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
