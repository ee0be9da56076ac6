"""Rows the auth tests need, written over the owner connection as an operator's tooling would."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Engine, delete, insert, select, text, update

from domain.tenancy.models import Membership, OAuthClient, Operator, SigningKey, Tenant
from domain.tenancy.roles import Role


def _scoped(connection: Any, tenant_id: uuid.UUID) -> None:
    # Needed where row-level security applies to the connecting role; harmless where it is bypassed.
    connection.execute(text("SELECT set_config('app.tenant_ids', :ids, true)"), {"ids": str(tenant_id)})


def add_tenant(engine: Engine, slug: str) -> uuid.UUID:
    tenant_id = uuid.uuid4()
    with engine.begin() as connection:
        connection.execute(insert(Tenant).values(id=tenant_id, slug=slug, name=slug.title(), timezone="UTC"))
    return tenant_id


def add_membership(engine: Engine, tenant_id: uuid.UUID, issuer: str, subject: str, role: Role) -> None:
    with engine.begin() as connection:
        _scoped(connection, tenant_id)
        connection.execute(
            insert(Membership).values(tenant_id=tenant_id, issuer=issuer, subject=subject, role=role)
        )


def add_operator(engine: Engine, issuer: str, subject: str) -> None:
    with engine.begin() as connection:
        connection.execute(insert(Operator).values(issuer=issuer, subject=subject))


def set_client_active(engine: Engine, tenant_id: uuid.UUID, client_id: str, active: bool) -> None:
    with engine.begin() as connection:
        _scoped(connection, tenant_id)
        connection.execute(
            update(OAuthClient).where(OAuthClient.client_id == client_id).values(active=active)
        )


def client_row(engine: Engine, tenant_id: uuid.UUID, client_id: str) -> Any:
    with engine.begin() as connection:
        _scoped(connection, tenant_id)
        return connection.execute(select(OAuthClient).where(OAuthClient.client_id == client_id)).one()


def signing_key_rows(engine: Engine) -> list[Any]:
    with engine.begin() as connection:
        return list(connection.execute(select(SigningKey).order_by(SigningKey.created_at)))


def clear_signing_keys(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(delete(SigningKey))


def is_superuser(engine: Engine) -> bool:
    with engine.connect() as connection:
        return bool(
            connection.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar()
        )
