"""Tenants, platform operators, memberships, OAuth clients and the built-in issuer's signing keys."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from domain.columns import TenantOwned, enum_column, new_id, timestamp, utcnow
from domain.db import Base
from domain.tenancy.roles import Role


class Tenant(Base):
    """A customer of the provider, or the provider itself. A reference table: no tenant_id of its own."""

    __tablename__ = "tenants"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    public_status_page: Mapped[bool] = mapped_column(Boolean, default=False)
    auto_close_days: Mapped[int] = mapped_column(default=3)
    created_at: Mapped[datetime] = timestamp(default=utcnow)


class Operator(Base):
    """A platform operator: creates tenants and memberships."""

    __tablename__ = "operators"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    issuer: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = timestamp(default=utcnow)


class Membership(TenantOwned, Base):
    """A principal (issuer, subject) belongs to a tenant with a role."""

    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("tenant_id", "issuer", "subject"),
        Index("ix_memberships_principal", "issuer", "subject"),
    )

    issuer: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = enum_column(Role)
    created_at: Mapped[datetime] = timestamp(default=utcnow)


class OAuthClient(TenantOwned, Base):
    """A partner or monitoring integration, bound to one tenant, authenticating with client credentials."""

    __tablename__ = "oauth_clients"
    __table_args__ = (UniqueConstraint("client_id"),)

    client_id: Mapped[str] = mapped_column(String(64))
    # Only a hash is kept; the secret is shown once, when the client is created.
    secret_hash: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(200))
    scopes: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = timestamp(default=utcnow)


class SigningKey(Base):
    """A key pair of the built-in issuer; the private key is always sealed (domain/sealing.py).

    The newest active key signs. A rotated key keeps verifying until ``retire_after`` (when the last token
    it signed has expired), then leaves the JWKS."""

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(16))
    public_jwk: Mapped[str] = mapped_column(Text)
    private_jwk: Mapped[str] = mapped_column(Text)
    encrypted: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = timestamp(default=utcnow)
    retire_after: Mapped[datetime | None] = timestamp()


class TenantCounter(Base):
    """Per-tenant sequences. The row lock taken to bump them is what keeps incident numbers gapless
    and event cursors in commit order within a tenant."""

    __tablename__ = "tenant_counters"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    last_incident_number: Mapped[int] = mapped_column(BigInteger, default=0)
    last_event_seq: Mapped[int] = mapped_column(BigInteger, default=0)
