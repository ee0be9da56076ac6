"""OAuth clients: registration, loading, and the model authlib authenticates against."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from authlib.oauth2.rfc6749 import ClientMixin
from authlib.oauth2.rfc6749.util import list_to_scope, scope_to_list
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from auth.hashing import dummy_hash, hash_secret, verify_secret
from auth.tokens import checked_scopes
from domain.db import Database, Scope, widen_scope
from domain.tenancy.models import Membership, OAuthClient
from domain.tenancy.roles import Role

AUTH_METHODS = ("client_secret_basic", "client_secret_post")
GRANT_TYPES = ("client_credentials",)


@dataclass(frozen=True)
class Client(ClientMixin):  # type: ignore[misc]  # authlib ships no type information
    """An OAuth client row as authlib sees it; an unknown or inactive client never authenticates."""

    client_id: str
    tenant_id: uuid.UUID | None
    scopes: frozenset[str]
    secret_hash: str
    active: bool

    @classmethod
    def nobody(cls, client_id: str) -> Client:
        # Stands in for an unknown id so the secret check costs the same and fails the same way.
        return cls(
            client_id=client_id, tenant_id=None, scopes=frozenset(), secret_hash=dummy_hash(), active=False
        )

    @classmethod
    def from_row(cls, row: OAuthClient) -> Client:
        return cls(
            client_id=row.client_id,
            tenant_id=row.tenant_id,
            scopes=frozenset(scope_to_list(row.scopes) or ()),
            secret_hash=row.secret_hash,
            active=row.active,
        )

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        matches = verify_secret(client_secret, self.secret_hash)
        return matches and self.active and self.tenant_id is not None

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method in AUTH_METHODS

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in GRANT_TYPES

    def get_allowed_scope(self, scope: str | None) -> str:
        """Requested scopes narrowed to the client's; all of the client's when none are requested."""
        if not scope:
            return str(list_to_scope(sorted(self.scopes)))
        return str(list_to_scope(sorted(set(scope_to_list(scope)) & self.scopes)))


async def load_client(database: Database, client_id: str) -> Client | None:
    # The self-lookup scope lets row-level security admit this one client row, whatever its tenant.
    async with database.transaction(Scope(client_id=client_id)) as session:
        row = await session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))
    return Client.from_row(row) if row is not None else None


async def register_client(
    database: Database,
    *,
    issuer: str,
    tenant_id: uuid.UUID,
    name: str,
    scopes: Iterable[str],
    role: Role,
) -> tuple[str, str]:
    """Insert the client and its membership; returns (client_id, client_secret). The secret is not kept."""
    granted = checked_scopes(scopes)
    if not granted:
        raise ValueError("a client needs at least one scope")
    client_id = "idc_" + secrets.token_urlsafe(18)
    client_secret = secrets.token_urlsafe(32)
    # scrypt is deliberately slow: keep it off the event loop.
    secret_hash = await asyncio.to_thread(hash_secret, client_secret)
    try:
        async with database.transaction(Scope.of([tenant_id])) as session:
            session.add(
                OAuthClient(
                    tenant_id=tenant_id,
                    client_id=client_id,
                    secret_hash=secret_hash,
                    name=name,
                    scopes=str(list_to_scope(sorted(granted))),
                    active=True,
                )
            )
            # Client tokens then resolve through the same membership path as people's tokens.
            session.add(Membership(tenant_id=tenant_id, issuer=issuer, subject=client_id, role=Role(role)))
    except IntegrityError as error:
        raise ValueError(f"cannot register a client for tenant {tenant_id}") from error
    return client_id, client_secret


async def revoke_client(database: Database, *, issuer: str, client_id: str) -> uuid.UUID | None:
    """Deactivate the client and remove its membership, so that no new token is issued to it and the
    tokens it holds lose every right at once. Returns its tenant, or None when no such client exists."""
    async with database.transaction(Scope(client_id=client_id)) as session:
        # The self-lookup scope only lets the client row be read; changing it and its membership needs
        # its tenant in scope.
        tenant_id = await session.scalar(
            select(OAuthClient.tenant_id).where(OAuthClient.client_id == client_id)
        )
        if tenant_id is None:
            return None
        await widen_scope(session, [tenant_id])
        await session.execute(
            update(OAuthClient)
            .where(OAuthClient.tenant_id == tenant_id, OAuthClient.client_id == client_id)
            .values(active=False)
        )
        await session.execute(
            delete(Membership).where(
                Membership.tenant_id == tenant_id,
                Membership.issuer == issuer,
                Membership.subject == client_id,
            )
        )
    return tenant_id
