"""Deliberately broken builds of the server, for bench/crash.py to catch. Never used otherwise.

    python -m bench.broken_app ack-before-commit serve --port 8000
    python -m bench.broken_app skip-fold serve --port 8000

* ``ack-before-commit``: the request transaction commits in a background task shortly after
  the response is sent (the classic fire-and-forget write), so a crash in between loses
  events the client was told are stored.
* ``skip-fold``: every third ingest stores its events but does not update their customers
  (counters and state drift from the raw events).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

import app.main
from app import cli, db
from app.events import service as events_service

COMMIT_DELAY_S = 0.5
_background: set[asyncio.Task[None]] = set()


async def _session_acknowledging_before_commit(request: Request) -> AsyncIterator[AsyncSession]:
    session = db.get_database(request).sessionmaker()
    await session.begin()
    try:
        yield session
    except BaseException:
        await session.rollback()
        await session.close()
        raise

    async def commit_later() -> None:
        await asyncio.sleep(COMMIT_DELAY_S)
        try:
            await session.commit()
        finally:
            await session.close()

    task = asyncio.create_task(commit_later())
    _background.add(task)
    task.add_done_callback(_background.discard)


def _install_ack_before_commit() -> None:
    original: Callable[..., Any] = app.main.create_app

    def create_app(*args: Any, **kwargs: Any) -> Any:
        built = original(*args, **kwargs)
        built.dependency_overrides[db._request_session] = _session_acknowledging_before_commit
        return built

    app.main.create_app = create_app  # type: ignore[assignment]


def _install_skip_fold() -> None:
    original = events_service.apply_new_events
    calls = 0

    async def apply_new_events(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls % 3 == 0:
            return []
        return await original(*args, **kwargs)

    events_service.apply_new_events = apply_new_events  # type: ignore[assignment]


MODES = {"ack-before-commit": _install_ack_before_commit, "skip-fold": _install_skip_fold}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in MODES:
        print(f"usage: python -m bench.broken_app {{{','.join(MODES)}}} serve ...", file=sys.stderr)
        return 2
    MODES[argv[0]]()
    return cli.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
