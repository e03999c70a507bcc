from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from app.health.settings import HealthSettings


class HealthSettingsRead(BaseModel):
    """The tenant's current health model settings. A request body for ``PUT`` is the
    ``settings`` object alone; fields it omits take their defaults."""

    version: int = Field(
        description="Stored version, counting up from 1; 0 while the tenant uses the defaults. "
        "Every health score records the version that produced it."
    )
    settings: HealthSettings
    updated_at: datetime | None = Field(description="When this version was stored.")
