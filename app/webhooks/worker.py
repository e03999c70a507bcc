"""The webhook delivery worker: claims due deliveries, sends them signed, records the outcome.

Delivery is at-least-once. A claim is a short transaction (``FOR UPDATE SKIP LOCKED``) that
counts the attempt and leases the row until ``now + lease``; the HTTP request is sent with no
transaction open; a second short transaction records the outcome. If the process dies anywhere
in between, the lease runs out and the delivery is attempted again, so a receiver may see an
event twice and must deduplicate on its ``id``; it never silently misses one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx

from app import __version__
from app.config import Settings
from app.db import Database
from app.problems import is_database_unavailable
from app.webhooks import retry, signing, urls
from app.webhooks.fairness import fair_shares
from app.webhooks.repository import Claimed, Outcome, claim_due, due_by_tenant, record_outcomes

logger = logging.getLogger("holdfast.webhooks")

USER_AGENT = f"Holdfast-Webhooks/{__version__}"
# Enough of a response to keep the connection reusable; the body itself is not used.
MAX_RESPONSE_BYTES = 64 * 1024
MAX_ERROR_LENGTH = 300


@dataclass(frozen=True)
class DeliveryPolicy:
    """How the worker sends and retries; :meth:`from_settings` reads the HOLDFAST_* values."""

    batch_size: int = 20
    max_attempts: int = 10
    backoff_base_s: float = 30.0
    backoff_cap_s: float = 6 * 3600.0
    request_timeout_s: float = 10.0
    lease_s: float = 60.0
    allow_private_urls: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryPolicy:
        return cls(
            batch_size=settings.webhook_batch_size,
            max_attempts=settings.webhook_max_attempts,
            backoff_base_s=settings.webhook_backoff_base_s,
            backoff_cap_s=settings.webhook_backoff_cap_s,
            request_timeout_s=settings.webhook_request_timeout_s,
            lease_s=settings.webhook_lease_s,
            allow_private_urls=settings.allow_private_webhook_urls,
        )


def make_client(policy: DeliveryPolicy) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        follow_redirects=False,
        timeout=httpx.Timeout(policy.request_timeout_s),
        limits=httpx.Limits(max_connections=max(policy.batch_size, 10)),
        headers={"User-Agent": USER_AGENT},
    )


@dataclass(frozen=True)
class Attempt:
    status_code: int | None
    error: str | None


def _short(text: str) -> str:
    cleaned = "".join(ch if ch.isprintable() else " " for ch in text).strip()
    return cleaned[:MAX_ERROR_LENGTH]


def _describe(exc: BaseException, timeout_s: float) -> str:
    """A short, secret-free account of a failed request (no URL, no headers)."""
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return f"timed out after {timeout_s:g}s"
    if isinstance(exc, httpx.ConnectError):
        return _short(f"could not connect: {exc}" if str(exc) else "could not connect")
    detail = str(exc)
    return _short(f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__)


async def _private_address_reason(url: str) -> str | None:
    """Why ``url``'s host resolves to a non-public address, if it does. The name is resolved
    again by the HTTP client, so this narrows rather than closes a DNS-rebinding window."""
    parts = urls.parse_webhook_url(url)
    host = parts.hostname or ""
    reason = urls.private_host_reason(host)
    if reason is not None:
        return f"host {reason}"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    for info in infos:
        address = str(info[4][0])
        if not urls.is_public_address(address):
            return "host resolves to a private, loopback or reserved address"
    return None


async def send(client: httpx.AsyncClient, claimed: Claimed, policy: DeliveryPolicy) -> Attempt:
    """POST one delivery, signed per Standard Webhooks with the current wall-clock time
    (receivers check it against theirs, whatever clock scheduled the attempt) and with every
    secret valid at that time (two during a rotation)."""
    body = json.dumps(claimed.payload, separators=(",", ":"), ensure_ascii=False).encode()
    signed_at = time.time()
    secrets = signing.valid_secrets(
        claimed.secret,
        claimed.previous_secret,
        claimed.previous_secret_expires_at,
        datetime.fromtimestamp(signed_at, UTC),
    )
    try:
        signature = signing.headers(secrets, str(claimed.event_id), int(signed_at), body)
    except ValueError:
        return Attempt(None, "the endpoint has no valid signing secret")
    headers = {
        "Content-Type": "application/json",
        **signature,
        "X-Holdfast-Event-Type": claimed.event_type,
        "X-Holdfast-Delivery-Id": str(claimed.id),
        "X-Holdfast-Delivery-Attempt": str(claimed.attempts),
    }
    try:
        # httpx's timeout bounds each read; this bounds the whole exchange, so a receiver
        # trickling bytes cannot hold the worker (or outlive the lease).
        async with asyncio.timeout(policy.request_timeout_s):
            if not policy.allow_private_urls:
                reason = await _private_address_reason(claimed.url)
                if reason is not None:
                    return Attempt(None, f"{reason}; private destinations are not allowed")
            async with client.stream("POST", claimed.url, content=body, headers=headers) as resp:
                received = 0
                async for chunk in resp.aiter_raw():
                    received += len(chunk)
                    if received >= MAX_RESPONSE_BYTES:
                        break
                return Attempt(resp.status_code, None)
    except Exception as exc:  # one receiver's failure must never stop the worker
        return Attempt(None, _describe(exc, policy.request_timeout_s))


def outcome(
    claimed: Claimed,
    attempt: Attempt,
    policy: DeliveryPolicy,
    now: datetime,
    jitter: float,
) -> Outcome:
    """2xx: delivered. Otherwise retried after an exponential backoff, or failed once
    ``max_attempts`` attempts have been made."""
    code = attempt.status_code
    if code is not None and retry.is_success(code):
        return Outcome(
            claimed.tenant_id, claimed.id, claimed.attempts, "delivered", None, code, None, now
        )
    if attempt.error is not None:
        error = attempt.error
    elif code is not None and 300 <= code < 400:
        error = f"receiver answered {code}; redirects are not followed"
    else:
        error = f"receiver answered {code}"
    if claimed.attempts >= policy.max_attempts:
        return Outcome(
            claimed.tenant_id, claimed.id, claimed.attempts, "failed", None, code, error, None
        )
    delay = retry.backoff_delay_s(
        claimed.attempts, policy.backoff_base_s, policy.backoff_cap_s, jitter
    )
    return Outcome(
        claimed.tenant_id,
        claimed.id,
        claimed.attempts,
        "pending",
        now + timedelta(seconds=delay),
        code,
        error,
        None,
    )


async def claim(database: Database, now: datetime, policy: DeliveryPolicy) -> list[Claimed]:
    """Reserve a batch of due deliveries, shared fairly among the tenants that have some (see
    :func:`fair_shares`), one short committed transaction per tenant."""
    async with database.sessionmaker() as session, session.begin():
        due = await due_by_tenant(session, now)
    lease_until = now + timedelta(seconds=policy.lease_s)
    claimed: list[Claimed] = []
    for tenant_id, share in fair_shares(due, policy.batch_size):
        async with database.sessionmaker() as session, session.begin():
            claimed += await claim_due(session, tenant_id, now, lease_until, share)
    return claimed


async def deliver_due(
    database: Database,
    now: datetime | None = None,
    *,
    policy: DeliveryPolicy | None = None,
    client: httpx.AsyncClient | None = None,
    jitter: Callable[[], float] = random.random,
) -> int:
    """Send one batch of due deliveries and record the outcomes; returns how many were
    attempted. ``now`` (default: the clock) decides what is due and schedules retries, so tests
    can step through a retry schedule without sleeping."""
    policy = policy or DeliveryPolicy()
    started = now or datetime.now(UTC)
    claimed = await claim(database, started, policy)
    if not claimed:
        return 0
    owns_client = client is None
    http = client or make_client(policy)
    try:
        attempts = await asyncio.gather(*(send(http, c, policy) for c in claimed))
    finally:
        if owns_client:
            await http.aclose()
    finished = now or datetime.now(UTC)
    outcomes = [
        outcome(c, a, policy, finished, jitter()) for c, a in zip(claimed, attempts, strict=True)
    ]
    async with database.sessionmaker() as session, session.begin():
        await record_outcomes(session, outcomes)
    for o in outcomes:
        if o.status != "delivered":
            logger.info(
                "webhook delivery %s",
                "failed" if o.status == "failed" else "will be retried",
                extra={"delivery_id": str(o.id), "attempts": o.attempts, "error": o.last_error},
            )
    return len(claimed)


class DeliveryWorker:
    """Runs :func:`deliver_due` in a loop until stopped: immediately again after a full batch,
    after ``poll_interval_s`` otherwise."""

    def __init__(
        self, database: Database, policy: DeliveryPolicy, *, poll_interval_s: float = 2.0
    ) -> None:
        self.database = database
        self.policy = policy
        self.poll_interval_s = poll_interval_s
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    @classmethod
    def from_settings(cls, database: Database, settings: Settings) -> DeliveryWorker:
        return cls(
            database,
            DeliveryPolicy.from_settings(settings),
            poll_interval_s=settings.webhook_poll_interval_s,
        )

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self.running:
            return
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="webhook-delivery-worker")

    async def stop(self) -> None:
        """Let the batch in progress finish (at most one request timeout), then stop. A batch
        cut short is not lost: its leases run out and another worker retries it."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        done, _ = await asyncio.wait({task}, timeout=self.policy.request_timeout_s + 1)
        if not done:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run(self) -> None:
        outage: float | None = None  # when the database stopped answering, while it does not
        async with make_client(self.policy) as client:
            while not self._stopping.is_set():
                try:
                    sent = await deliver_due(self.database, policy=self.policy, client=client)
                except Exception as exc:
                    sent = 0
                    if not is_database_unavailable(exc):
                        logger.exception("webhook delivery batch failed; retrying after a pause")
                    elif outage is None:  # one line per outage, not one per poll
                        outage = time.monotonic()
                        logger.warning(
                            "webhook worker: database unavailable (%s); retrying every %s s",
                            type(exc).__name__,
                            self.poll_interval_s,
                        )
                else:
                    if outage is not None:
                        logger.info(
                            "webhook worker: database back after %.0f s",
                            time.monotonic() - outage,
                        )
                        outage = None
                if sent >= self.policy.batch_size:
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=self.poll_interval_s)
