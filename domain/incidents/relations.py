"""Related records: a parent incident and its children, and how a parent's changes flow down to them.

As ServiceNow does it: a parent going IN_PROGRESS, or ON_HOLD awaiting a vendor or a change, takes its open
children along; resolving it resolves them with its resolution notes; closing it does not touch open
children, but children it resolved close with it (and the auto-close scan closes any RESOLVED child whose
parent is CLOSED). The parent's PUBLIC comments by staff are copied to its children.

A child made by ``affectTenants`` lives in another tenant. Flowing to it is system work: the transaction's
scope is widened to the parent's ``affected_tenant_ids`` on purpose, and only public facts travel (status,
resolution notes, PUBLIC comments), recorded as the system's, never the parent's internal events.

Locks are taken parent first, then children in id order, so concurrent cascades never deadlock.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain import events
from domain.columns import utcnow
from domain.db import Database, Scope, use_case, widen_scope
from domain.errors import ErrorCode, Refused, invalid, not_found
from domain.incidents.enums import HoldReason, IncidentStatus, Visibility
from domain.incidents.lifecycle import Operation
from domain.incidents.models import Incident, IncidentLink
from domain.incidents.steps import (
    MAX_BATCH,
    commit_step,
    load_for_update,
    review_published,
    step,
    system_step,
)
from domain.tenancy.actor import Actor

S = IncidentStatus
CASCADED: dict[str, Any] = {"cascaded": True}
# Hold reasons a parent passes on: waiting for the customer is the parent reporter's business only.
HOLDS_THAT_FLOW = frozenset({HoldReason.AWAITING_VENDOR, HoldReason.AWAITING_CHANGE})


async def lock_family_counters(
    session: AsyncSession, parent_tenant_id: uuid.UUID, child_tenant_ids: Sequence[uuid.UUID]
) -> None:
    """Take the event counters a change to a parent and its children will bump: the parent's tenant
    first (every change to the parent bumps it first anyway), then the children's tenants in a fixed
    order. A fan-out and a flowing comment then queue at the parent's tenant instead of deadlocking."""
    await events.lock_counters(session, [parent_tenant_id])
    await events.lock_counters(session, [t for t in child_tenant_ids if t != parent_tenant_id])


async def children_for_update(session: AsyncSession, parent: Incident) -> list[Incident]:
    """The parent's children, row-locked in id order, wherever they live; and the counters of their
    tenants, the parent's first (see ``lock_family_counters``)."""
    if parent.affected_tenant_ids:
        await widen_scope(session, parent.affected_tenant_ids)
        await lock_family_counters(session, parent.tenant_id, parent.affected_tenant_ids)
    link = IncidentLink
    rows = await session.scalars(
        select(Incident)
        .join(link, (link.tenant_id == Incident.tenant_id) & (link.child_id == Incident.id))
        .where(link.parent_tenant_id == parent.tenant_id, link.parent_id == parent.id)
        .order_by(Incident.id)
        .with_for_update(of=Incident)
        .execution_options(populate_existing=True)
    )
    return list(rows.all())


async def flow_from_parent(
    session: AsyncSession,
    parent: Incident,
    before: IncidentStatus,
    *,
    comment: str | None = None,
    cascade_resolution: bool = True,
) -> int:
    """Let the parent's change (its status moved from ``before``, or a PUBLIC staff ``comment``) reach its
    children. Each child that follows takes one step of its own, with one event; returns how many did."""
    after = parent.status
    moved = after is not before
    if not moved and comment is None:
        return 0
    if moved and after is S.ON_HOLD and parent.on_hold_reason not in HOLDS_THAT_FLOW:
        moved = False
    if moved and after is S.RESOLVED and not cascade_resolution:
        moved = False
    if moved and after is S.CANCELLED:
        moved = False
    if not moved and comment is None:
        return 0
    followed = 0
    for child in await children_for_update(session, parent):
        if comment is not None and await _copy_comment(session, child, comment):
            followed += 1
        if moved and await _follow_status(session, parent, child):
            followed += 1
    return followed


async def _copy_comment(session: AsyncSession, child: Incident, body: str) -> bool:
    accepted = system_step(child, Operation.COMMENT, visibility=Visibility.PUBLIC)
    if accepted is None:
        return False
    await commit_step(session, child, accepted, None, message=body, data=dict(CASCADED))
    return True


async def _follow_status(session: AsyncSession, parent: Incident, child: Incident) -> bool:
    target = parent.status
    message: str | None = None
    if target is S.IN_PROGRESS:
        operation = {S.NEW: Operation.ACKNOWLEDGE, S.ON_HOLD: Operation.RESUME}.get(child.status)
        if operation is None:
            return False
        accepted = system_step(child, operation)
    elif target is S.ON_HOLD:
        accepted = system_step(child, Operation.PUT_ON_HOLD, hold_reason=parent.on_hold_reason)
    elif target is S.RESOLVED:
        accepted = system_step(child, Operation.RESOLVE)
        if accepted is not None:
            child.resolution_code = parent.resolution_code
            child.resolution_notes = parent.resolution_notes
            child.resolved_by = parent.resolved_by
            message = parent.resolution_notes
    elif target is S.CLOSED:
        published = child.major and await review_published(session, child)
        accepted = system_step(child, Operation.CLOSE, review_published=published)
    else:
        return False
    if accepted is None:
        return False
    data: dict[str, Any] = dict(CASCADED)
    if target is S.RESOLVED and child.resolution_code is not None:
        data["code"] = child.resolution_code.value
    if target is S.ON_HOLD and parent.on_hold_reason is not None:
        data["reason"] = parent.on_hold_reason.value
    await commit_step(session, child, accepted, None, message=message, data=data)
    return True


async def parent_of(session: AsyncSession, child: Incident) -> IncidentLink | None:
    return await session.scalar(
        select(IncidentLink).where(
            IncidentLink.tenant_id == child.tenant_id, IncidentLink.child_id == child.id
        )
    )


async def has_children(session: AsyncSession, incident: Incident) -> bool:
    found = await session.scalar(
        select(IncidentLink.child_id)
        .where(IncidentLink.parent_tenant_id == incident.tenant_id, IncidentLink.parent_id == incident.id)
        .limit(1)
    )
    return found is not None


def _check_ids(parent_id: uuid.UUID, child_ids: Sequence[uuid.UUID]) -> None:
    if not child_ids:
        raise invalid("name at least one child incident", "child_ids")
    if len(child_ids) > MAX_BATCH:
        raise Refused.one(ErrorCode.LIMIT_EXCEEDED, f"at most {MAX_BATCH} children per call", "child_ids")
    seen: set[uuid.UUID] = set()
    for index, child_id in enumerate(child_ids):
        if child_id == parent_id:
            raise invalid("an incident cannot be its own child", "child_ids", str(index))
        if child_id in seen:
            raise invalid("named twice", "child_ids", str(index))
        seen.add(child_id)


@use_case
async def link_incidents(
    db: Database, actor: Actor, *, parent_id: uuid.UUID, child_ids: Sequence[uuid.UUID]
) -> list[Incident]:
    """Make ``child_ids`` children of ``parent_id`` (same tenant; no cycles, no grandchildren, one parent
    per child). The parent records one LINKED event, each child one; returns the children."""
    _check_ids(parent_id, child_ids)
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        # Lock every incident named, in one statement and in id order, so that two links naming the same
        # incidents the other way round queue behind each other instead of deadlocking.
        await session.execute(
            select(Incident.id)
            .where(Incident.id.in_([parent_id, *child_ids]))
            .order_by(Incident.id)
            .with_for_update()
        )
        parent, role = await load_for_update(session, actor, parent_id, None, field=("parent_id",))
        parent_step = step(parent, actor, role, Operation.LINK)
        if await parent_of(session, parent) is not None:
            raise invalid("is itself a child of another incident; link to that parent instead", "parent_id")
        order = sorted(range(len(child_ids)), key=lambda i: child_ids[i])
        by_index: dict[int, Incident] = {}
        for index in order:
            field = ("child_ids", str(index))
            child, child_role = await load_for_update(session, actor, child_ids[index], None, field=field)
            if child.tenant_id != parent.tenant_id:
                raise invalid("must be in the parent's tenant", *field)
            child_step = step(child, actor, child_role, Operation.LINK)
            if await parent_of(session, child) is not None:
                raise invalid("already has a parent; unlink it first", *field)
            # Children in other tenants (affectTenants) may be invisible to this actor: the incident's own
            # list of affected tenants says they exist.
            if child.affected_tenant_ids or await has_children(session, child):
                raise invalid("has children of its own, and a child cannot have children", *field)
            by_index[index] = child
            session.add(
                IncidentLink(
                    tenant_id=child.tenant_id,
                    child_id=child.id,
                    parent_tenant_id=parent.tenant_id,
                    parent_id=parent.id,
                    linked_by=actor.subject,
                    linked_at=utcnow(),
                )
            )
            await commit_step(
                session,
                child,
                child_step,
                actor,
                message=f"linked to {parent.display_number}",
                data={"parentId": str(parent.id), "parent": parent.display_number},
            )
        children = [by_index[i] for i in range(len(child_ids))]
        await commit_step(
            session,
            parent,
            parent_step,
            actor,
            visibility=Visibility.INTERNAL,
            message=", ".join(c.display_number for c in children),
            data={
                "childIds": [str(c.id) for c in children],
                "children": [c.display_number for c in children],
            },
        )
    return children


@use_case
async def unlink_incident(db: Database, actor: Actor, child_id: uuid.UUID) -> Incident:
    """Detach a child from its parent: one UNLINKED event on the child, and one on the parent while it is
    not closed or cancelled (the parent may live in another tenant: system work there)."""
    field = ("child_id",)
    async with db.transaction(Scope.of(actor.tenant_ids)) as session:
        peek = await session.scalar(select(Incident.tenant_id).where(Incident.id == child_id))
        if peek is None or actor.role_in(peek) is None:
            raise not_found("incident", *field)
        link = await session.scalar(
            select(IncidentLink).where(IncidentLink.tenant_id == peek, IncidentLink.child_id == child_id)
        )
        parent: Incident | None = None
        if link is not None:
            # Parent before child, as every cascade locks them.
            if link.parent_tenant_id not in actor.tenant_ids:
                await widen_scope(session, [link.parent_tenant_id])
            parent = await session.scalar(
                select(Incident)
                .where(Incident.tenant_id == link.parent_tenant_id, Incident.id == link.parent_id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        child, role = await load_for_update(session, actor, child_id, None, field=field)
        child_step = step(child, actor, role, Operation.UNLINK)
        current = await parent_of(session, child)
        if current is None or link is None or current.parent_id != link.parent_id:
            raise invalid("is not linked to a parent", *field)
        await session.execute(
            delete(IncidentLink).where(
                IncidentLink.tenant_id == child.tenant_id, IncidentLink.child_id == child.id
            )
        )
        await commit_step(session, child, child_step, actor, message="unlinked from its parent")
        if parent is not None:
            parent_step = system_step(parent, Operation.UNLINK)
            if parent_step is not None:
                same_tenant = parent.tenant_id == child.tenant_id
                await commit_step(
                    session,
                    parent,
                    parent_step,
                    actor if same_tenant else None,
                    visibility=Visibility.INTERNAL,
                    message=child.display_number if same_tenant else None,
                    data={"childId": str(child.id)} if same_tenant else {"tenantId": str(child.tenant_id)},
                )
    return child
