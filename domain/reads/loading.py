"""Reading relations of many rows at once, for the executor's batch loaders, from the read model.

A page of a relation for many owners is one statement: the owners' keys as a VALUES list, and for each
a LATERAL subquery that walks the relation's index for its ``size + 1`` rows (top-N per owner), so a
page of 50 incidents with their 5 newest events reads about 300 index entries, not the whole timeline.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Uuid, column, func, select, true, tuple_, values
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from domain.reads.model import Alias, Entity, Relation
from domain.reads.selection import Window
from domain.visibility import Sight

OwnerKey = tuple[uuid.UUID, uuid.UUID]  # (tenant_id, id)


def _owners(keys: Sequence[OwnerKey]) -> Any:
    return values(column("tenant_id", Uuid), column("id", Uuid), name="owner").data(list(keys))


def _related(
    relation: Relation, target: Entity, owner: Any, rows: Alias, sight: Sight
) -> list[ColumnElement[bool]]:
    conditions = [relation.join(owner, rows)]
    if sight is Sight.PUBLIC and target.public_rows is not None:
        conditions.append(target.public_rows(rows))
    return conditions


async def load_pages(
    session: AsyncSession,
    entities: Mapping[str, Entity],
    owner: Entity,
    relation_name: str,
    keys: Sequence[OwnerKey],
    window: Window,
    sight: Sight,
) -> dict[OwnerKey, tuple[list[Any], bool]]:
    """Each owner's page of the relation, in the sort's order, and whether more rows lie beyond it."""
    relation = owner.relation(relation_name)
    target = entities[relation.target]
    assert relation.sort is not None
    owners = _owners(keys)
    rows = aliased(target.model)
    columns = [getattr(rows, c) for c in relation.sort.columns]
    conditions = _related(relation, target, owners.c, rows, sight)
    for bound, past in ((window.after, True), (window.before, False)):
        if bound is not None:
            forward = past != relation.sort.descending
            conditions.append(
                tuple_(*columns) > tuple_(*bound) if forward else tuple_(*columns) < tuple_(*bound)
            )
    down = relation.sort.descending != window.backwards
    walking = [c.desc() if down else c.asc() for c in columns]
    page = select(rows).where(*conditions).order_by(*walking).limit(window.size + 1).lateral()
    found = aliased(target.model, page)
    statement = select(owners.c.tenant_id, owners.c.id, found).select_from(owners.join(page, true()))
    grouped: dict[OwnerKey, list[Any]] = defaultdict(list)
    for tenant_id, owner_id, row in (await session.execute(statement)).all():
        grouped[(tenant_id, owner_id)].append(row)
    pages: dict[OwnerKey, tuple[list[Any], bool]] = {}
    for key in keys:
        walked = grouped[key]
        more = len(walked) > window.size
        kept = walked[: window.size]
        if window.backwards:
            kept.reverse()
        pages[key] = (kept, more)
    return pages


async def count_related(
    session: AsyncSession,
    entities: Mapping[str, Entity],
    owner: Entity,
    relation_name: str,
    keys: Sequence[OwnerKey],
    sight: Sight,
) -> dict[OwnerKey, int]:
    """How many rows of the relation each owner has, as a reader of ``sight`` sees them."""
    relation = owner.relation(relation_name)
    target = entities[relation.target]
    owners = _owners(keys)
    rows = aliased(target.model)
    counted = (
        select(func.count())
        .select_from(rows)
        .where(*_related(relation, target, owners.c, rows, sight))
        .correlate(owners)
        .scalar_subquery()
    )
    statement = select(owners.c.tenant_id, owners.c.id, counted)
    return {(t, i): int(n) for t, i, n in (await session.execute(statement)).all()}
