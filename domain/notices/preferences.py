"""A member's mail address and notification preferences: read and changed by the member alone.

Each membership has its own (a provider's agent may want mail about one customer's incidents and not
another's). Until a member sets them, they read as no address and every kind of mail on, which sends
nothing: mail goes only to an address its owner gave.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.columns import utcnow
from domain.db import Database, Scope, use_case
from domain.errors import not_found
from domain.mail.outbox import checked_address
from domain.notices.member_models import NotificationPreferences
from domain.tenancy.actor import Actor
from domain.tenancy.models import Membership


class NoticeKind(enum.StrEnum):
    """The kinds of mail a member chooses, each named as its preference column."""

    PUBLIC_UPDATES = "public_updates"
    RESOLUTION = "resolution"
    SURVEY = "survey"
    ASSIGNMENT = "assignment"
    SLA_AT_RISK = "sla_at_risk"


def defaults(membership: Membership) -> NotificationPreferences:
    """What a member's preferences read as before they set any: no address, every kind on."""
    return NotificationPreferences(
        tenant_id=membership.tenant_id,
        membership_id=membership.id,
        email=None,
        updated_at=membership.created_at,
        **dict.fromkeys((str(k) for k in NoticeKind), True),
    )


async def own_membership(session: AsyncSession, actor: Actor, tenant_id: uuid.UUID) -> Membership | None:
    """The actor's own membership of the tenant (a token's issuer and subject), if any."""
    return await session.scalar(
        select(Membership).where(
            Membership.tenant_id == tenant_id,
            Membership.issuer == actor.issuer,
            Membership.subject == actor.subject,
        )
    )


async def preferences_of(
    session: AsyncSession, *, issuer: str, subject: str, tenant_ids: Iterable[uuid.UUID]
) -> list[NotificationPreferences]:
    """The preferences of (issuer, subject) in each of the tenants it is a member of among
    ``tenant_ids``, by tenant id; the defaults where none were set."""
    rows = await session.execute(
        select(Membership, NotificationPreferences)
        .outerjoin(
            NotificationPreferences,
            (NotificationPreferences.tenant_id == Membership.tenant_id)
            & (NotificationPreferences.membership_id == Membership.id),
        )
        .where(
            Membership.tenant_id.in_(list(tenant_ids)),
            Membership.issuer == issuer,
            Membership.subject == subject,
        )
        .order_by(Membership.tenant_id)
    )
    return [chosen if chosen is not None else defaults(member) for member, chosen in rows]


@use_case
async def update_notification_preferences(
    db: Database,
    actor: Actor,
    *,
    tenant_id: uuid.UUID,
    email: str | None = None,
    public_updates: bool | None = None,
    resolution: bool | None = None,
    survey: bool | None = None,
    assignment: bool | None = None,
    sla_at_risk: bool | None = None,
) -> NotificationPreferences:
    """Change the caller's own address and choices in a tenant. None leaves a value as it is; an empty
    ``email`` removes the address (and so every mail)."""
    address = None if email is None or not email.strip() else checked_address(email, "email")
    chosen = {
        NoticeKind.PUBLIC_UPDATES: public_updates,
        NoticeKind.RESOLUTION: resolution,
        NoticeKind.SURVEY: survey,
        NoticeKind.ASSIGNMENT: assignment,
        NoticeKind.SLA_AT_RISK: sla_at_risk,
    }
    changes: dict[str, object] = {str(k): v for k, v in chosen.items() if v is not None}
    if email is not None:
        changes["email"] = address
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        membership = await own_membership(session, actor, tenant_id)
        if membership is None or actor.role_in(tenant_id) is None:
            raise not_found("tenant", "tenant_id")
        return await _save(session, membership, changes)


async def _save(
    session: AsyncSession, membership: Membership, changes: dict[str, object]
) -> NotificationPreferences:
    """Write ``changes`` over the member's preferences (the defaults when they had none), at once: two
    changes made together never undo each other."""
    now = utcnow()
    initial = {
        "email": None,
        **dict.fromkeys((str(k) for k in NoticeKind), True),
        **changes,
    }
    statement = (
        insert(NotificationPreferences)
        .values(tenant_id=membership.tenant_id, membership_id=membership.id, updated_at=now, **initial)
        .on_conflict_do_update(
            index_elements=["tenant_id", "membership_id"], set_={**changes, "updated_at": now}
        )
        .returning(NotificationPreferences)
        .execution_options(populate_existing=True)
    )
    saved: NotificationPreferences = (await session.execute(statement)).scalar_one()
    return saved


async def set_member_email(session: AsyncSession, membership: Membership, email: str) -> None:
    """Give a member an address, inside the caller's transaction (an operator adding the member)."""
    await _save(session, membership, {"email": checked_address(email, "email")})


async def turn_off(
    db: Database, *, tenant_id: uuid.UUID, membership_id: uuid.UUID, kind: NoticeKind
) -> NotificationPreferences:
    """One kind of mail off for a member, as a signed unsubscribe link asks (the link is the member's
    word: whoever holds it is the person it was mailed to)."""
    async with db.transaction(Scope.of([tenant_id])) as session:
        membership = await session.scalar(
            select(Membership).where(Membership.tenant_id == tenant_id, Membership.id == membership_id)
        )
        if membership is None:
            raise not_found("member")
        return await _save(session, membership, {str(kind): False})
