"""A real HTTP receiver for webhook tests: ``http.server`` on 127.0.0.1 in a thread.

It verifies each request as a consumer would, with the ``standardwebhooks`` library (not with
Holdfast's own code), answering 400 when it does not verify, and otherwise answers with the next
scripted status, 200 once the script is used up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError


class _QuietServer(ThreadingHTTPServer):
    # The default listen backlog (5) drops connections when a batch arrives at once.
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up mid-response (timeouts, cancelled sends) is what these tests
        # provoke on purpose; the default handler would print a traceback.
        pass


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool


class Receiver:
    def __init__(self) -> None:
        self.secret: str | None = None
        self.statuses: list[int] = []
        self.delays_s: list[float] = []
        self.redirect_to: str | None = None
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/hooks/holdfast"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                verified = receiver.verifies(body, dict(self.headers.items()))
                with receiver._lock:
                    receiver.received.append(
                        Received(self.path, dict(self.headers.items()), body, verified)
                    )
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    delay = receiver.delays_s.pop(0) if receiver.delays_s else 0.0
                if delay:
                    time.sleep(delay)
                if not verified:
                    status = 400
                self.send_response(status)
                if 300 <= status < 400 and receiver.redirect_to:
                    self.send_header("Location", receiver.redirect_to)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def verifies(self, body: bytes, headers: dict[str, str]) -> bool:
        if self.secret is None:
            return False
        try:
            Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError:
            return False
        return True

    def count(self) -> int:
        with self._lock:
            return len(self.received)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()
