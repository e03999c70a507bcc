from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

AuditActionName = Literal["customer.exported", "customer.erased"]


class CustomerExport(BaseModel):
    """Everything Holdfast stores about one customer, table by table (rows as stored, without
    the tenant id). New tables that hold customer data appear here without an API change."""

    customer_id: str
    exported_at: datetime
    tables: dict[str, list[dict[str, Any]]] = Field(
        description="Rows by table name: customers, events, customer_status_changes, "
        "usage_daily, webhook_deliveries, ..."
    )


class CustomerErased(BaseModel):
    customer_id: str
    erased_at: datetime
    rows: dict[str, int] = Field(description="Rows deleted, by table.")
    audit_id: uuid.UUID = Field(description="The audit log entry recording this erasure.")


class AuditEntryRead(BaseModel):
    model_config = {"from_attributes": True}

    id: uuid.UUID
    at: datetime
    actor_key_id: uuid.UUID | None = Field(description="The API key that acted.")
    action: AuditActionName
    target_hash: str | None = Field(
        description="SHA-256 hex of '<tenant id>:<customer id>': the customer, without the id "
        "itself. Filter with ?customer_id= to find a customer's entries."
    )
    details: dict[str, Any]


class AuditPage(BaseModel):
    items: list[AuditEntryRead]
    next_cursor: str | None
