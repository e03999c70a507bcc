from __future__ import annotations

from datetime import datetime

from pydantic import Field

from app.signals.settings import SignalSettings


class SignalSettingsRead(SignalSettings):
    updated_at: datetime | None = Field(description="Null while the defaults apply.")
