"""Per-API-key rate limiting in front of the application (pure ASGI).

The bucket is chosen by the key's lookup prefix, read from the ``Authorization`` header before
any database work, so a flood of refused requests costs no connection from the shared pool and
cannot starve other tenants. The prefix is 12 random characters that only holders of the key
(and admins of its tenant) see, so nobody can drain another tenant's bucket by naming it.

Every response to a request that carries a well-formed key has ``RateLimit-Limit``,
``RateLimit-Remaining``, ``RateLimit-Reset`` and ``RateLimit-Policy`` (IETF httpapi ratelimit
headers, draft 7); a refused one is a 429 problem with ``Retry-After``. The buckets live in
this process: N replicas behind a load balancer allow up to N times the configured rate.
"""

from __future__ import annotations

import math
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.problems import problem_response
from app.ratelimit.buckets import Decision, TokenBuckets
from app.tenants.keys import parse_prefix

# Unauthenticated operational endpoints: probes and scrapers must never be throttled.
EXEMPT_PATHS = frozenset(
    {"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
)


def key_prefix(scope: Scope) -> str | None:
    """The lookup prefix of the bearer key the request presents, if it presents one."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            if scheme.lower() != "bearer":
                return None
            return parse_prefix(token.strip())
    return None


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, rate_per_s: float, burst: int) -> None:
        self.app = app
        self.buckets = TokenBuckets(rate_per_s, burst) if rate_per_s > 0 else None
        window = math.ceil(burst / rate_per_s) if rate_per_s > 0 else 0
        self.policy = f"{burst};w={window}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or self.buckets is None
            or scope.get("path") in EXEMPT_PATHS
            or (prefix := key_prefix(scope)) is None
        ):
            await self.app(scope, receive, send)
            return

        decision = self.buckets.take(prefix, time.monotonic())
        headers = self._headers(decision)
        if not decision.allowed:
            response = problem_response(
                429,
                slug="rate-limited",
                title="Too many requests",
                detail=f"This API key is limited to {decision.limit} requests at once and "
                f"{self.buckets.rate:g} per second; retry after the indicated delay.",
                headers={
                    "Retry-After": str(decision.retry_after_s),
                    **{name.decode(): value.decode() for name, value in headers},
                },
            )
            await response(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *headers]}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _headers(self, decision: Decision) -> list[tuple[bytes, bytes]]:
        return [
            (b"ratelimit-limit", str(decision.limit).encode()),
            (b"ratelimit-remaining", str(decision.remaining).encode()),
            (b"ratelimit-reset", str(decision.reset_s).encode()),
            (b"ratelimit-policy", self.policy),
        ]
