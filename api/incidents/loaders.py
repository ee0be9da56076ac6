"""Batch loaders for incident relations: each runs one statement per request tick, whatever the page size."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select, tuple_
from sqlalchemy.orm import aliased

from api.context import Context
from api.relay import SortKey
from domain.incidents import models as m
from domain.incidents.enums import Visibility

IncidentKey = tuple[uuid.UUID, uuid.UUID]  # (tenant_id, id)


async def load_incidents(ctx: Context, keys: Sequence[uuid.UUID]) -> list[m.Incident | None]:
    """Incidents by id; rows outside the request's tenant scope come back as None (RLS)."""
    async with ctx.read() as session:
        rows = (await session.scalars(select(m.Incident).where(m.Incident.id.in_(keys)))).all()
    found = {r.id: r for r in rows}
    return [found.get(k) for k in keys]


async def load_responders(ctx: Context, keys: Sequence[IncidentKey]) -> list[list[m.Responder]]:
    async with ctx.read() as session:
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


async def load_tasks(ctx: Context, keys: Sequence[IncidentKey]) -> list[list[m.IncidentTask]]:
    async with ctx.read() as session:
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


async def load_parent_ids(ctx: Context, keys: Sequence[IncidentKey]) -> list[uuid.UUID | None]:
    link = m.IncidentLink
    async with ctx.read() as session:
        rows = (
            await session.execute(
                select(link.tenant_id, link.child_id, link.parent_id).where(
                    tuple_(link.tenant_id, link.child_id).in_(keys)
                )
            )
        ).all()
    parents = {(t, c): p for t, c, p in rows}
    return [parents.get(k) for k in keys]


@dataclass(frozen=True)
class TimelineKey:
    tenant_id: uuid.UUID
    incident_id: uuid.UUID
    first: int
    after_seq: int
    internal: bool


@dataclass
class Window:
    rows: list[Any]
    has_next: bool


def _visible(internal: bool) -> Any:
    return True if internal else m.IncidentEvent.visibility == Visibility.PUBLIC


async def load_timelines(ctx: Context, keys: Sequence[TimelineKey]) -> list[Window]:
    """The first N events after a cursor for many incidents at once: one windowed query per page shape."""
    groups: dict[tuple[int, int, bool], list[TimelineKey]] = defaultdict(list)
    for key in keys:
        groups[(key.first, key.after_seq, key.internal)].append(key)
    found: dict[TimelineKey, Window] = {}
    async with ctx.read() as session:
        for (first, after_seq, internal), members in groups.items():
            event = m.IncidentEvent
            ranked = (
                select(
                    event,
                    func.row_number()
                    .over(partition_by=(event.tenant_id, event.incident_id), order_by=event.seq)
                    .label("rank"),
                )
                .where(
                    tuple_(event.tenant_id, event.incident_id).in_(
                        [(k.tenant_id, k.incident_id) for k in members]
                    ),
                    event.seq > after_seq,
                    _visible(internal),
                )
                .subquery()
            )
            alias = aliased(event, ranked)
            statement: Select[Any] = (
                select(alias).where(ranked.c.rank <= first + 1).order_by(ranked.c.incident_id, ranked.c.seq)
            )
            rows = (await session.scalars(statement)).all()
            per_incident: dict[IncidentKey, list[m.IncidentEvent]] = defaultdict(list)
            for row in rows:
                per_incident[(row.tenant_id, row.incident_id)].append(row)
            for key in members:
                events = per_incident[(key.tenant_id, key.incident_id)]
                found[key] = Window(rows=events[:first], has_next=len(events) > first)
    return [found[k] for k in keys]


async def load_timeline_counts(ctx: Context, keys: Sequence[tuple[uuid.UUID, uuid.UUID, bool]]) -> list[int]:
    event = m.IncidentEvent
    counts: dict[tuple[uuid.UUID, uuid.UUID, bool], int] = {}
    async with ctx.read() as session:
        for internal in (True, False):
            wanted = [(t, i) for t, i, flag in keys if flag is internal]
            if not wanted:
                continue
            rows = (
                await session.execute(
                    select(event.tenant_id, event.incident_id, func.count())
                    .where(tuple_(event.tenant_id, event.incident_id).in_(wanted), _visible(internal))
                    .group_by(event.tenant_id, event.incident_id)
                )
            ).all()
            counts.update({(t, i, internal): int(n) for t, i, n in rows})
    return [counts.get(k, 0) for k in keys]


@dataclass(frozen=True)
class ChildrenKey:
    parent_tenant_id: uuid.UUID
    parent_id: uuid.UUID
    first: int
    after: tuple[Any, ...] | None


async def load_children(ctx: Context, keys: Sequence[ChildrenKey]) -> list[Window]:
    """Children of many parents at once, ordered by (reported_at, id); only children in scope are seen."""
    link, incident = m.IncidentLink, m.Incident
    found: dict[ChildrenKey, Window] = {}
    groups: dict[tuple[int, tuple[Any, ...] | None], list[ChildrenKey]] = defaultdict(list)
    for key in keys:
        groups[(key.first, key.after)].append(key)
    async with ctx.read() as session:
        for (first, after), members in groups.items():
            conditions = [
                tuple_(link.parent_tenant_id, link.parent_id).in_(
                    [(k.parent_tenant_id, k.parent_id) for k in members]
                )
            ]
            if after is not None:
                conditions.append(SortKey((incident.reported_at, incident.id)).beyond(after, reverse=False))
            ranked = (
                select(
                    incident,
                    link.parent_id.label("link_parent_id"),
                    func.row_number()
                    .over(partition_by=link.parent_id, order_by=(incident.reported_at, incident.id))
                    .label("rank"),
                )
                .join(link, (link.tenant_id == incident.tenant_id) & (link.child_id == incident.id))
                .where(*conditions)
                .subquery()
            )
            alias = aliased(incident, ranked)
            rows = (
                await session.execute(
                    select(alias, ranked.c.link_parent_id)
                    .where(ranked.c.rank <= first + 1)
                    .order_by(ranked.c.reported_at, ranked.c.id)
                )
            ).all()
            per_parent: dict[uuid.UUID, list[m.Incident]] = defaultdict(list)
            for child, parent_id in rows:
                per_parent[parent_id].append(child)
            for key in members:
                children = per_parent[key.parent_id]
                found[key] = Window(rows=children[:first], has_next=len(children) > first)
    return [found[k] for k in keys]


async def load_children_counts(ctx: Context, keys: Sequence[IncidentKey]) -> list[int]:
    link = m.IncidentLink
    async with ctx.read() as session:
        rows = (
            await session.execute(
                select(link.parent_tenant_id, link.parent_id, func.count())
                .where(tuple_(link.parent_tenant_id, link.parent_id).in_(keys))
                .group_by(link.parent_tenant_id, link.parent_id)
            )
        ).all()
    counts = {(t, p): int(n) for t, p, n in rows}
    return [counts.get(k, 0) for k in keys]
