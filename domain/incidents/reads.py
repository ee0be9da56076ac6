"""Reading incidents: the incidents listing, and batched reads of incidents and what hangs off them for
the edge's loaders (one statement per batch), in the session's tenant scope (row-level security decides
what is found)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from domain.batches import all_each, one_each
from domain.incidents import models as m
from domain.incidents.queries import IncidentQuery
from domain.reads.pages import Keyset, Paged

IncidentKey = tuple[uuid.UUID, uuid.UUID]  # (tenant_id, id)


def incident_listing(query: IncidentQuery) -> Paged[m.Incident]:
    """The incidents ``query`` selects, in its order. The conditions are the compiled reads' own (with
    their parameters bound here), so both ways of reading a listing find the same incidents."""
    statement = select(m.Incident).where(*query.conditions(m.Incident, "q")).params(query.binds("q"))
    return Paged(statement, Keyset.of(m.Incident, query.sort))


async def incident_count(session: AsyncSession, *, tenant_id: uuid.UUID) -> int:
    """How many incidents the tenant has."""
    count = await session.scalar(
        select(func.count()).select_from(m.Incident).where(m.Incident.tenant_id == tenant_id)
    )
    return int(count or 0)


async def incidents_by_id(session: AsyncSession, keys: Sequence[uuid.UUID]) -> list[m.Incident | None]:
    """Incidents by id; rows outside the request's tenant scope come back as None (RLS)."""
    rows = await session.scalars(select(m.Incident).where(m.Incident.id.in_(keys)))
    return one_each(keys, rows, lambda row: row.id)


async def responders(session: AsyncSession, keys: Sequence[IncidentKey]) -> list[list[m.Responder]]:
    rows = await session.scalars(
        select(m.Responder)
        .where(tuple_(m.Responder.tenant_id, m.Responder.incident_id).in_(keys))
        .order_by(m.Responder.added_at, m.Responder.subject)
    )
    return all_each(keys, rows, lambda row: (row.tenant_id, row.incident_id))


async def tasks(session: AsyncSession, keys: Sequence[IncidentKey]) -> list[list[m.IncidentTask]]:
    rows = await session.scalars(
        select(m.IncidentTask)
        .where(tuple_(m.IncidentTask.tenant_id, m.IncidentTask.incident_id).in_(keys))
        .order_by(m.IncidentTask.position)
    )
    return all_each(keys, rows, lambda row: (row.tenant_id, row.incident_id))


async def parent_ids(session: AsyncSession, keys: Sequence[IncidentKey]) -> list[uuid.UUID | None]:
    link = m.IncidentLink
    rows = await session.execute(
        select(link.tenant_id, link.child_id, link.parent_id).where(
            tuple_(link.tenant_id, link.child_id).in_(keys)
        )
    )
    found = one_each(keys, rows, lambda row: (row[0], row[1]))
    return [row[2] if row is not None else None for row in found]


async def reviews(session: AsyncSession, keys: Sequence[IncidentKey]) -> list[m.IncidentReview | None]:
    """Reviews by their incident's (tenant_id, id)."""
    review = m.IncidentReview
    rows = await session.scalars(select(review).where(tuple_(review.tenant_id, review.incident_id).in_(keys)))
    return one_each(keys, rows, lambda row: (row.tenant_id, row.incident_id))


async def review_by_id(session: AsyncSession, review_id: uuid.UUID) -> m.IncidentReview | None:
    found: m.IncidentReview | None = await session.scalar(
        select(m.IncidentReview).where(m.IncidentReview.id == review_id)
    )
    return found


async def action_items(session: AsyncSession, keys: Sequence[IncidentKey]) -> list[list[m.ReviewActionItem]]:
    """Each review's action items, by the review's (tenant_id, id), in their order."""
    item = m.ReviewActionItem
    rows = await session.scalars(
        select(item).where(tuple_(item.tenant_id, item.review_id).in_(keys)).order_by(item.position)
    )
    return all_each(keys, rows, lambda row: (row.tenant_id, row.review_id))


async def incident_by_number(session: AsyncSession, tenant_id: uuid.UUID, number: int) -> m.Incident | None:
    """The tenant's incident with this number (INC-42 is number 42)."""
    found: m.Incident | None = await session.scalar(
        select(m.Incident).where(m.Incident.tenant_id == tenant_id, m.Incident.number == number)
    )
    return found


async def events_by_id(session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[m.IncidentEvent | None]:
    rows = await session.scalars(select(m.IncidentEvent).where(m.IncidentEvent.id.in_(ids)))
    return one_each(ids, rows, lambda row: row.id)


async def models_by_key(session: AsyncSession, keys: Sequence[IncidentKey]) -> list[m.IncidentModel | None]:
    """Incident models by (tenant_id, id)."""
    model = m.IncidentModel
    rows = await session.scalars(select(model).where(tuple_(model.tenant_id, model.id).in_(keys)))
    return one_each(keys, rows, lambda row: (row.tenant_id, row.id))


async def model_by_id(session: AsyncSession, model_id: uuid.UUID) -> m.IncidentModel | None:
    found: m.IncidentModel | None = await session.scalar(
        select(m.IncidentModel).where(m.IncidentModel.id == model_id)
    )
    return found
