"""Keeps the embedded PostgreSQL running while ``holdfast serve`` runs.

A thread, not an asyncio task: restarting the server blocks for a second or more (pg_ctl waits
for it), which must not stall request handling. Requests during the outage get 503 with
Retry-After from the problem handlers; the pool's pre-ping replaces the dead connections once
the server is back. An external DATABASE_URL is never supervised: its operator owns it.
"""

from __future__ import annotations

import logging
import threading
import time

from app.embedded import EmbeddedPostgres

logger = logging.getLogger("holdfast.embedded")
STILL_DOWN_S = 30.0


class EmbeddedSupervisor:
    def __init__(self, embedded: EmbeddedPostgres, interval_s: float = 1.0) -> None:
        self._embedded = embedded
        self._interval_s = interval_s
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name="embedded-postgres-supervisor", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop watching (and wait for a restart in progress) before the server is shut down,
        so that a deliberate stop is not mistaken for a crash."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while not self._stopping.wait(self._interval_s):
            if not self._embedded.alive():
                self._recover()

    def _recover(self) -> None:
        # One line when the outage is noticed and one when it is over, however many attempts
        # it takes in between (old backends may hold the shared memory for a moment).
        down_at = time.monotonic()
        logger.warning(
            "embedded PostgreSQL is down; restarting it",
            extra={"data_dir": str(self._embedded.pgdata)},
        )
        attempts = 0
        told_still_down = False
        while not self._stopping.is_set():
            attempts += 1
            try:
                self._embedded.restart()
            except Exception as exc:  # any failure is retried until stopped
                # An outage that outlasts STILL_DOWN_S is worth one more line, with the reason.
                if not told_still_down and time.monotonic() - down_at > STILL_DOWN_S:
                    told_still_down = True
                    logger.error(
                        "embedded PostgreSQL does not restart; still trying",
                        extra={"error": repr(exc), "log": str(self._embedded.pgdata / "log")},
                    )
                self._stopping.wait(self._interval_s)
                continue
            logger.info(
                "embedded PostgreSQL restarted",
                extra={
                    "seconds": round(time.monotonic() - down_at, 2),
                    "attempts": attempts,
                },
            )
            return
