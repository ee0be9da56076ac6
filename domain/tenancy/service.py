"""Tenancy use cases for platform operators: tenants and memberships."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.batches import one_each
from domain.columns import utcnow
from domain.db import Database, Scope, use_case
from domain.errors import ErrorCode, Refused, forbidden, invalid, not_found
from domain.notices.preferences import set_member_email
from domain.tenancy.actor import Actor
from domain.tenancy.models import Membership, Operator, Tenant, TenantCounter
from domain.tenancy.roles import Role
from domain.timezones import is_iana_timezone

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def is_slug(value: str) -> bool:
    """Whether ``value`` can name a tenant at all; anything else (a NUL, a newline, 10 kB) names none and
    is answered without asking the database."""
    return SLUG.fullmatch(value) is not None


def valid_timezone(name: str) -> bool:
    return is_iana_timezone(name)


MAX_AUTO_CLOSE_DAYS = 90


@use_case
async def create_tenant(
    db: Database,
    actor: Actor | None,
    *,
    slug: str,
    name: str,
    timezone: str,
    public_status_page: bool = False,
    auto_close_days: int = 3,
) -> Tenant:
    """Create a tenant. ``actor`` None is the command line, trusted as an operator. ``auto_close_days``:
    how long a RESOLVED incident waits for the customer's confirmation before it closes by itself."""
    if actor is not None and not actor.is_operator:
        raise forbidden("only platform operators create tenants")
    slug = slug.strip().lower()
    problems = []
    if not SLUG.match(slug):
        problems.append(invalid("use 1-63 lowercase letters, digits and inner hyphens", "slug"))
    name = name.strip()
    if not name or len(name) > 200:
        problems.append(invalid("must be 1 to 200 characters", "name"))
    if not valid_timezone(timezone):
        problems.append(invalid(f"{timezone!r} is not an IANA timezone", "timezone"))
    if not 1 <= auto_close_days <= MAX_AUTO_CLOSE_DAYS:
        problems.append(invalid(f"must be 1 to {MAX_AUTO_CLOSE_DAYS} days", "auto_close_days"))
    if problems:
        raise Refused([p for r in problems for p in r.problems])
    tenant_id = uuid.uuid4()
    async with db.transaction(Scope.of([tenant_id])) as session:
        # ON CONFLICT rather than look-then-insert: two operators racing for one slug get one tenant and
        # one clear refusal, never a unique-violation fault.
        tenant: Tenant | None = await session.scalar(
            insert(Tenant)
            .values(
                id=tenant_id,
                slug=slug,
                name=name,
                timezone=timezone,
                public_status_page=public_status_page,
                auto_close_days=auto_close_days,
                created_at=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=["slug"])
            .returning(Tenant)
        )
        if tenant is None:
            raise invalid("a tenant with this slug already exists", "slug")
        session.add(TenantCounter(tenant_id=tenant_id, last_incident_number=0, last_event_seq=0))
    return tenant


async def tenant_by_slug(session: AsyncSession, slug: str) -> Tenant | None:
    return await session.scalar(select(Tenant).where(Tenant.slug == slug))


@dataclass(frozen=True)
class Grant:
    """A role granted in a tenant: the membership, and the tenant it opens."""

    membership: Membership
    tenant: Tenant


@use_case
async def add_member(
    db: Database,
    actor: Actor | None,
    *,
    tenant_id: uuid.UUID,
    issuer: str,
    subject: str,
    role: Role,
    email: str | None = None,
) -> Grant:
    """Grant ``role`` in a tenant to (issuer, subject); granting again changes the role. ``email``, when
    given, is where the member's notifications go (``domain/notices/preferences.py``)."""
    if actor is not None and not actor.is_operator:
        raise forbidden("only platform operators manage memberships")
    subject = subject.strip()
    if not subject or len(subject) > 255:
        raise invalid("must be 1 to 255 characters", "subject")
    if not issuer or len(issuer) > 500:
        raise invalid("must be 1 to 500 characters", "issuer")
    async with db.transaction(Scope.of([tenant_id])) as session:
        tenant = await session.get(Tenant, tenant_id)
        if tenant is None:
            raise not_found("tenant", "tenant")
        statement = (
            insert(Membership)
            .values(tenant_id=tenant_id, id=uuid.uuid4(), issuer=issuer, subject=subject, role=role)
            .on_conflict_do_update(index_elements=["tenant_id", "issuer", "subject"], set_={"role": role})
            .returning(Membership)
        )
        membership = (await session.execute(statement)).scalar_one()
        if email:
            await set_member_email(session, membership, email)
    return Grant(membership, tenant)


async def add_operator(db: Database, issuer: str, subject: str) -> Operator:
    if not subject.strip():
        raise Refused.one(ErrorCode.INVALID, "subject must not be blank", "subject")
    async with db.transaction(Scope()) as session:
        statement = (
            insert(Operator)
            .values(id=uuid.uuid4(), issuer=issuer, subject=subject.strip())
            .on_conflict_do_update(index_elements=["issuer", "subject"], set_={"subject": subject.strip()})
            .returning(Operator)
        )
        operator = (await session.execute(statement)).scalar_one()
    return operator


async def tenants_by_id(session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[Tenant | None]:
    """Tenants by id. The tenants table is a reference table: the caller decides what may be shown."""
    rows = await session.scalars(select(Tenant).where(Tenant.id.in_(ids)))
    return one_each(ids, rows, lambda row: row.id)
