"""Batch loaders for incident relations: each runs one statement per request tick, whatever the page size."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from api.context import Context
from domain.incidents import models as m
from domain.incidents import reads
from domain.incidents.read_model import INCIDENT
from domain.reads.catalog import ENTITIES
from domain.reads.loading import count_related, load_pages
from domain.reads.selection import Window
from domain.visibility import Sight

IncidentKey = reads.IncidentKey


async def load_incidents(ctx: Context, keys: Sequence[uuid.UUID]) -> list[m.Incident | None]:
    """Incidents by id; rows outside the request's tenant scope come back as None (RLS)."""
    async with ctx.read() as session:
        return await reads.incidents_by_id(session, keys)


async def load_responders(ctx: Context, keys: Sequence[IncidentKey]) -> list[list[m.Responder]]:
    async with ctx.read() as session:
        return await reads.responders(session, keys)


async def load_tasks(ctx: Context, keys: Sequence[IncidentKey]) -> list[list[m.IncidentTask]]:
    async with ctx.read() as session:
        return await reads.tasks(session, keys)


async def load_parent_ids(ctx: Context, keys: Sequence[IncidentKey]) -> list[uuid.UUID | None]:
    async with ctx.read() as session:
        return await reads.parent_ids(session, keys)


@dataclass(frozen=True)
class PageKey:
    """A page of one incident's relation (timeline, children) as a reader of ``sight`` sees it."""

    tenant_id: uuid.UUID
    incident_id: uuid.UUID
    window: Window
    sight: Sight


@dataclass
class Page:
    rows: list[Any]
    more: bool  # rows lie beyond the page in its walking direction


def _pages_of(relation: str) -> Callable[[Context, Sequence[PageKey]], Awaitable[list[Page]]]:
    async def load(ctx: Context, keys: Sequence[PageKey]) -> list[Page]:
        """One LATERAL statement per window shape, whatever the number of incidents."""
        groups: dict[tuple[Window, Sight], list[PageKey]] = defaultdict(list)
        for key in keys:
            groups[(key.window, key.sight)].append(key)
        found: dict[PageKey, Page] = {}
        async with ctx.read() as session:
            for (window, sight), members in groups.items():
                owners = [(k.tenant_id, k.incident_id) for k in members]
                pages = await load_pages(session, ENTITIES, INCIDENT, relation, owners, window, sight)
                for key in members:
                    rows, more = pages[(key.tenant_id, key.incident_id)]
                    found[key] = Page(rows, more)
        return [found[k] for k in keys]

    return load


def _counts_of(
    relation: str,
) -> Callable[[Context, Sequence[tuple[uuid.UUID, uuid.UUID, Sight]]], Awaitable[list[int]]]:
    async def load(ctx: Context, keys: Sequence[tuple[uuid.UUID, uuid.UUID, Sight]]) -> list[int]:
        counts: dict[tuple[uuid.UUID, uuid.UUID, Sight], int] = {}
        async with ctx.read() as session:
            for sight in Sight:
                owners = [(t, i) for t, i, s in keys if s is sight]
                if owners:
                    found = await count_related(session, ENTITIES, INCIDENT, relation, owners, sight)
                    counts.update({(t, i, sight): n for (t, i), n in found.items()})
        return [counts.get(k, 0) for k in keys]

    return load


load_timelines = _pages_of("timeline")
load_timeline_counts = _counts_of("timeline")
load_children = _pages_of("children")
load_children_counts = _counts_of("children")
