"""The tenant's service catalogue: the services incidents are raised against."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from domain.columns import TenantOwned, timestamp, utcnow
from domain.db import Base


class Service(TenantOwned, Base):
    __tablename__ = "services"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        UniqueConstraint("tenant_id", "slug", name="uq_services_tenant_slug"),
    )

    name: Mapped[str] = mapped_column(String(200))
    # Unique within the tenant, made from the name when the service is created (domain.catalog.slugs).
    slug: Mapped[str] = mapped_column(String(80))
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = timestamp(default=utcnow)
