"""Settings, read from the environment (``HOLDFAST_*``, plus the conventional ``DATABASE_URL``).

Bad configuration fails at start-up with a message naming the variable, never at the first
request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_ASYNC_SCHEME = "postgresql+asyncpg"


def normalize_database_url(url: str) -> str:
    """Accept the DSN spellings people paste (``postgres://``, ``postgresql://``) and return the
    SQLAlchemy asyncpg form."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError("must look like postgresql://user:password@host:port/database")
    if scheme in {"postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg2"}:
        return f"{_ASYNC_SCHEME}://{rest}"
    if scheme == _ASYNC_SCHEME:
        return url
    raise ValueError(f"unsupported scheme {scheme!r}: Holdfast needs PostgreSQL")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOLDFAST_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("HOLDFAST_DATABASE_URL", "DATABASE_URL"),
        description="PostgreSQL DSN. Unset: an embedded PostgreSQL under data_dir.",
    )
    data_dir: Path = Field(default=Path(".holdfast"), description="Embedded database location.")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Server processes sharing the port (`holdfast serve`): each is a replica "
        "with its own pool, scorer and rate-limit buckets; about one per core.",
    )
    public_url: str | None = Field(
        default=None, description="Base URL the outside world reaches this service at."
    )

    max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_max_overflow: int = Field(default=10, ge=0, le=200)
    db_pool_timeout_s: float = Field(default=5.0, gt=0)
    db_connect_timeout_s: float = Field(default=5.0, gt=0)
    db_statement_timeout_ms: int = Field(default=30_000, ge=100)
    retry_after_s: int = Field(default=5, ge=1, description="Retry-After sent with 503s.")

    rate_limit_per_s: float = Field(
        default=200.0,
        ge=0,
        le=1_000_000,
        description="Requests per second each API key may sustain (per process); 0 disables.",
    )
    rate_limit_burst: int = Field(
        default=400, ge=1, le=1_000_000, description="Requests an API key may send at once."
    )

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    rescore_interval_s: float = Field(
        default=3600.0,
        ge=0,
        le=7 * 86_400,
        description="Rescore every customer (and write the daily health snapshot) this often; "
        "0 turns the in-process scheduler off (run `holdfast rescore` from cron instead).",
    )

    health_drain_interval_s: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="Materialise the health scores of customers with new events this often "
        "(scores, lists, tiers and health.tier_changed lag ingest by about this plus one "
        "drain); 0 turns the in-process scorer off (another replica, or the periodic rescore, "
        "must then drain).",
    )

    webhook_worker_enabled: bool = Field(
        default=True,
        description="Run the webhook delivery worker in this process (any number of processes "
        "may run it: they claim deliveries with SKIP LOCKED).",
    )
    webhook_poll_interval_s: float = Field(default=2.0, gt=0, le=300)
    webhook_batch_size: int = Field(default=20, ge=1, le=500)
    webhook_max_attempts: int = Field(default=10, ge=1, le=50)
    webhook_backoff_base_s: float = Field(default=30.0, gt=0, le=86_400)
    webhook_backoff_cap_s: float = Field(default=6 * 3600.0, gt=0, le=7 * 86_400)
    webhook_request_timeout_s: float = Field(default=10.0, gt=0, le=120)
    webhook_lease_s: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="How long a claimed delivery is reserved for the worker sending it; if that "
        "worker dies, another one retries the delivery once the lease has passed.",
    )
    allow_private_webhook_urls: bool = Field(
        default=True,
        description="Allow webhook URLs on loopback and private networks. Set false in "
        "production so tenants cannot reach the operator's internal network.",
    )

    @model_validator(mode="after")
    def _webhook_timings_agree(self) -> Settings:
        if self.webhook_backoff_cap_s < self.webhook_backoff_base_s:
            raise ValueError("HOLDFAST_WEBHOOK_BACKOFF_CAP_S must be >= ..._BACKOFF_BASE_S")
        # A lease shorter than a send would let a second worker resend while the first waits.
        if self.webhook_lease_s < 2 * self.webhook_request_timeout_s:
            raise ValueError(
                "HOLDFAST_WEBHOOK_LEASE_S must be at least twice HOLDFAST_WEBHOOK_REQUEST_TIMEOUT_S"
            )
        return self

    @classmethod
    def environment_variable(cls, field: str) -> str:
        """The environment variable that sets ``field`` (``port`` -> ``HOLDFAST_PORT``)."""
        if field == "database_url":
            return "DATABASE_URL (or HOLDFAST_DATABASE_URL)"
        return f"HOLDFAST_{field.upper()}" if field else "settings"

    @field_validator("database_url")
    @classmethod
    def _normalize_url(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        return normalize_database_url(value.strip())
