"""Column shapes shared by every tenant-owned table.

Every tenant-owned table's primary key starts with ``tenant_id`` and every foreign key between such tables
includes it, so the schema can later be distributed by tenant (see DESIGN.md, "Growing past one database").
"""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Enum, ForeignKey, Uuid
from sqlalchemy.orm import Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> uuid.UUID:
    return uuid.uuid4()


class TenantOwned:
    """Mixin: ``(tenant_id, id)`` primary key."""

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)


def timestamp(**kwargs: Any) -> Any:
    return mapped_column(DateTime(timezone=True), **kwargs)


def enum_column(enum_type: type[enum.Enum], **kwargs: Any) -> Any:
    """Enums are stored as their names in VARCHAR: adding a value never needs a type migration."""
    return mapped_column(
        Enum(enum_type, native_enum=False, length=32, create_constraint=False, validate_strings=True),
        **kwargs,
    )
