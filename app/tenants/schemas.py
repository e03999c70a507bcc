from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.inputs import RequestModel

Scope = Literal["events:write", "read", "admin"]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00]*$")]


class ApiKeyCreate(RequestModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: Name = Field(description="What the key is for, e.g. 'billing backend'.")
    scopes: list[Scope] = Field(min_length=1, max_length=3)


class ApiKeyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    prefix: str
    scopes: list[Scope]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="The API key. Shown once: Holdfast keeps only its hash.")


class ApiKeyList(BaseModel):
    items: list[ApiKeyRead]
