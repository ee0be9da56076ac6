"""Batched reads of incidents and what hangs off them, for the edge's loaders: one statement per batch, in
the session's tenant scope (row-level security decides what is found)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from domain.incidents import models as m
from domain.incidents import records as r

IncidentKey = tuple[uuid.UUID, uuid.UUID]  # (tenant_id, id)


async def incidents_by_id(session: AsyncSession, keys: Sequence[uuid.UUID]) -> list[m.Incident | None]:
    """Incidents by id; rows outside the request's tenant scope come back as None (RLS)."""
    rows = (await session.scalars(select(m.Incident).where(m.Incident.id.in_(keys)))).all()
    found = {r.id: r for r in rows}
    return [found.get(k) for k in keys]


async def responders(session: AsyncSession, keys: Sequence[IncidentKey]) -> list[list[m.Responder]]:
    rows = (
        await session.scalars(
            select(m.Responder)
            .where(tuple_(m.Responder.tenant_id, m.Responder.incident_id).in_(keys))
            .order_by(m.Responder.added_at, m.Responder.subject)
        )
    ).all()
    grouped: dict[IncidentKey, list[m.Responder]] = defaultdict(list)
    for row in rows:
        grouped[(row.tenant_id, row.incident_id)].append(row)
    return [grouped[k] for k in keys]


async def tasks(session: AsyncSession, keys: Sequence[IncidentKey]) -> list[list[m.IncidentTask]]:
    rows = (
        await session.scalars(
            select(m.IncidentTask)
            .where(tuple_(m.IncidentTask.tenant_id, m.IncidentTask.incident_id).in_(keys))
            .order_by(m.IncidentTask.position)
        )
    ).all()
    grouped: dict[IncidentKey, list[m.IncidentTask]] = defaultdict(list)
    for row in rows:
        grouped[(row.tenant_id, row.incident_id)].append(row)
    return [grouped[k] for k in keys]


async def parent_ids(session: AsyncSession, keys: Sequence[IncidentKey]) -> list[uuid.UUID | None]:
    link = m.IncidentLink
    rows = (
        await session.execute(
            select(link.tenant_id, link.child_id, link.parent_id).where(
                tuple_(link.tenant_id, link.child_id).in_(keys)
            )
        )
    ).all()
    parents = {(t, c): p for t, c, p in rows}
    return [parents.get(k) for k in keys]


async def reviews(session: AsyncSession, keys: Sequence[IncidentKey]) -> list[r.IncidentReview | None]:
    """Reviews by their incident's (tenant_id, id)."""
    review = r.IncidentReview
    rows = (
        await session.scalars(select(review).where(tuple_(review.tenant_id, review.incident_id).in_(keys)))
    ).all()
    found = {(row.tenant_id, row.incident_id): row for row in rows}
    return [found.get(k) for k in keys]


async def review_by_id(session: AsyncSession, review_id: uuid.UUID) -> r.IncidentReview | None:
    found: r.IncidentReview | None = await session.scalar(
        select(r.IncidentReview).where(r.IncidentReview.id == review_id)
    )
    return found


async def action_items(session: AsyncSession, keys: Sequence[IncidentKey]) -> list[list[r.ReviewActionItem]]:
    """Each review's action items, by the review's (tenant_id, id), in their order."""
    item = r.ReviewActionItem
    rows = (
        await session.scalars(
            select(item).where(tuple_(item.tenant_id, item.review_id).in_(keys)).order_by(item.position)
        )
    ).all()
    grouped: dict[IncidentKey, list[r.ReviewActionItem]] = defaultdict(list)
    for row in rows:
        grouped[(row.tenant_id, row.review_id)].append(row)
    return [grouped[k] for k in keys]


async def events_by_id(session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[m.IncidentEvent | None]:
    rows = {
        e.id: e for e in await session.scalars(select(m.IncidentEvent).where(m.IncidentEvent.id.in_(ids)))
    }
    return [rows.get(i) for i in ids]


async def models_by_key(session: AsyncSession, keys: Sequence[IncidentKey]) -> list[r.IncidentModel | None]:
    """Incident models by (tenant_id, id)."""
    model = r.IncidentModel
    rows = (await session.scalars(select(model).where(tuple_(model.tenant_id, model.id).in_(keys)))).all()
    found = {(row.tenant_id, row.id): row for row in rows}
    return [found.get(k) for k in keys]


async def model_by_id(session: AsyncSession, model_id: uuid.UUID) -> r.IncidentModel | None:
    found: r.IncidentModel | None = await session.scalar(
        select(r.IncidentModel).where(r.IncidentModel.id == model_id)
    )
    return found


async def incident_by_number(session: AsyncSession, tenant_id: uuid.UUID, number: int) -> m.Incident | None:
    """The tenant's incident with this number (INC-42 is number 42)."""
    found: m.Incident | None = await session.scalar(
        select(m.Incident).where(m.Incident.tenant_id == tenant_id, m.Incident.number == number)
    )
    return found
