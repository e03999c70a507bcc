"""A throwaway PostgreSQL that a test or benchmark can stop, restart, crash and freeze.

Built on the embedded server (pgserver's binaries, initialised in a directory of our own, on a
Unix socket only), then driven with ``pg_ctl`` and signals. Never the session's test server:
stopping that would break every other test.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from app.embedded import EmbeddedPostgres


def _bin(name: str) -> str:
    import pgserver

    return str(Path(pgserver.__file__).parent / "pginstall" / "bin" / name)


class ControllablePostgres:
    def __init__(self, root: Path) -> None:
        self.embedded = EmbeddedPostgres(root)
        self.pgdata = self.embedded.pgdata
        self.socket_dir = ""
        # pgserver runs the server as an unprivileged user when we are root (initdb refuses root).
        self.user: str | None = "pgserver" if os.geteuid() == 0 else None

    def start_first(self) -> None:
        self.embedded.start()
        self.socket_dir = self.embedded._socket_dir()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@/{database}?host={quote(self.socket_dir, safe='/')}"

    def _pg_ctl(self, *args: str, timeout: float = 30) -> None:
        kwargs: dict[str, Any] = {"user": self.user} if self.user else {}
        subprocess.run(
            [_bin("pg_ctl"), "-D", str(self.pgdata), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=timeout,
            **kwargs,
        )

    def stop(self, mode: str = "fast") -> None:
        """``fast``: abort sessions and shut down cleanly; ``immediate``: like a crash (recovery
        replays the WAL on the next start)."""
        self._pg_ctl("-w", "-m", mode, "stop")

    def start(self) -> float:
        """Start again on the same socket; returns the seconds until it accepts connections."""
        started = time.perf_counter()
        self._pg_ctl(
            "-w",
            "-o",
            '-h ""',
            "-o",
            f"-k {self.socket_dir}",
            "-l",
            str(self.pgdata / "log"),
            "start",
        )
        return time.perf_counter() - started

    def postmaster_pid(self) -> int:
        return int((self.pgdata / "postmaster.pid").read_text().splitlines()[0])

    def _processes(self) -> list[int]:
        import psutil

        postmaster = psutil.Process(self.postmaster_pid())
        return [postmaster.pid, *(child.pid for child in postmaster.children(recursive=True))]

    def freeze(self) -> list[int]:
        """Stop every server process (SIGSTOP): a server that accepts connections and answers
        nothing, like a stalled host."""
        pids = self._processes()
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        return pids

    def thaw(self, pids: list[int]) -> None:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    def close(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            self._pg_ctl("-w", "-m", "immediate", "stop", timeout=15)
        # pgserver's own shutdown then finds the server already stopped and says so; quietly.
        quiet = logging.getLogger("pgserver")
        level = quiet.level
        quiet.setLevel(logging.CRITICAL)
        try:
            self.embedded.stop()
        finally:
            quiet.setLevel(level)
