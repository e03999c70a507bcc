"""The embedded default database: a private PostgreSQL server under the data directory.

Uses ``pgserver``, whose wheel ships PostgreSQL binaries, so a fresh machine needs nothing
installed. The server listens only on a Unix socket inside the data directory.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote


def _ensure_runtime_dir() -> None:
    # platformdirs (a pgserver dependency) warns when XDG_RUNTIME_DIR is unset or too open.
    current = os.environ.get("XDG_RUNTIME_DIR")
    if current and Path(current).is_dir() and (Path(current).stat().st_mode & 0o077) == 0:
        return
    runtime = Path(tempfile.gettempdir()) / f"holdfast-runtime-{os.getuid()}"
    runtime.mkdir(mode=0o700, exist_ok=True)
    runtime.chmod(0o700)
    os.environ["XDG_RUNTIME_DIR"] = str(runtime)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(pid)


def _remove_stale_lock(path: Path) -> None:
    try:
        pid = int(path.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return
    if not _pid_alive(pid):
        path.unlink(missing_ok=True)


def _zombie(pid: int) -> bool:
    # A killed postmaster is reparented to PID 1; in a container that PID 1 may never reap it,
    # and kill(pid, 0) succeeds on a zombie, which would keep PostgreSQL from starting again.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[:1] == ["Z"]


class EmbeddedPostgres:
    """A handle on the embedded server; ``stop()`` (or process exit) shuts it down."""

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = (data_dir / "pgdata").resolve()
        self._server: Any = None

    def start(self) -> str:
        """Start (or reuse) the server and return an asyncpg DSN for its ``postgres`` database."""
        _ensure_runtime_dir()
        import pgserver  # imported late: it is heavy and only needed on the embedded path

        self.pgdata.mkdir(parents=True, exist_ok=True)
        self._forget_dead_handles()
        get_server = pgserver.get_server  # type: ignore[attr-defined]
        self._server = get_server(self.pgdata, cleanup_mode="stop")
        return self.url()

    def _forget_dead_handles(self) -> None:
        """pgserver stops the server when the last process holding a handle exits, tracking
        holders in a pid list it never prunes: a holder killed with SIGKILL would keep the server
        running forever. Drop pids that no longer exist before taking a handle."""
        handles = self.pgdata / ".handle_pids.json"
        try:
            pids = json.loads(handles.read_text())
        except (OSError, ValueError):
            return
        if isinstance(pids, list):
            alive = [pid for pid in pids if isinstance(pid, int) and _pid_alive(pid)]
            if alive != pids:
                handles.write_text(json.dumps(alive))

    def url(self, database: str = "postgres") -> str:
        socket_dir = self._socket_dir()
        return f"postgresql+asyncpg://postgres@/{database}?host={quote(socket_dir, safe='/')}"

    def _socket_dir(self) -> str:
        uri: str = self._server.get_uri()
        return uri.split("host=", 1)[1]

    def alive(self) -> bool:
        """Whether the postmaster accepts connections. Only a refused connection or a missing
        socket counts as dead: a busy server (full backlog, slow accept) is alive."""
        path = Path(self._socket_dir()) / ".s.PGSQL.5432"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2)
            try:
                sock.connect(str(path))
            except (ConnectionRefusedError, FileNotFoundError):
                return False
            except OSError:
                return True
        return True

    def restart(self) -> None:
        """Start the postmaster again on the same data directory and socket after it died.
        Raises while it cannot start yet (e.g. old backends still hold its shared memory)."""
        server = self._server
        if server is None:
            raise RuntimeError("embedded PostgreSQL was never started")
        socket_dir = self._socket_dir()
        # Lock files naming a dead (or zombie) postmaster: PostgreSQL itself refuses to start
        # while the pid they name answers kill(pid, 0), which a zombie does.
        for lock in (self.pgdata / "postmaster.pid", Path(socket_dir) / ".s.PGSQL.5432.lock"):
            _remove_stale_lock(lock)
        # pgserver logs the whole server log at error level on every failed start; the
        # supervisor logs the outage once instead.
        pgserver_logger = logging.getLogger("pgserver")
        was_disabled = pgserver_logger.disabled
        pgserver_logger.disabled = True
        try:
            with server._lock:
                server.ensure_postgres_running()
        finally:
            pgserver_logger.disabled = was_disabled
        if self._socket_dir() != socket_dir:
            raise RuntimeError(f"embedded PostgreSQL came back on another socket: {socket_dir}")

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
