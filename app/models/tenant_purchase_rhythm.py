from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Float, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class TenantPurchaseRhythm(Base):
    """The tenant's median interval between purchase days across its repeat buyers (see
    ``app.customers.rhythm``), as of ``computed_at``.

    Computing it reads every purchase of the tenant (about 0.6 s for 700 000 purchases), too
    much for each read of a one-time buyer, so the periodic job stores it here and
    ``GET /v1/customers/{id}`` reads it; until the first run the read computes it.
    """

    __tablename__ = "tenant_purchase_rhythms"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    median_interval_days: Mapped[float | None] = mapped_column(Float)
    repeat_buyers: Mapped[int] = mapped_column(BigInteger)
    computed_at: Mapped[datetime]
