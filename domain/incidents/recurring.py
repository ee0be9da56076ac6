"""Recurring incidents: groups of similar incidents, the candidates for problem management.

Two incidents recur when they share their service and category, or when their titles are similar. Title
similarity is pg_trgm's: the share of trigrams two titles have in common among all the trigrams of
either (each lower-cased word of letters and digits, padded with two spaces before and one after, cut
into its three-letter pieces), and titles at least ``SIMILAR`` alike (pg_trgm's default threshold) are
similar. It is computed here rather than by the extension, which the embedded PostgreSQL does not ship.
Similar titles group transitively: "mail down", "mail down again" and "mail down again today" form one
group even when the first and the last are less alike.
"""

from __future__ import annotations

import enum
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from domain.db import Database, Scope
from domain.errors import forbidden, not_found
from domain.incidents.enums import IncidentStatus
from domain.incidents.models import Incident
from domain.tenancy.actor import Actor
from domain.tenancy.roles import Role, at_least
from domain.windows import check_window

SIMILAR = 0.3
MAX_DAYS = 366
# The newest this many incidents of the period are compared: enough for a tenant's quarter, and a bound on
# the pairs compared.
MAX_INCIDENTS = 2000
_WORDS = re.compile(r"[^\W_]+")


class RecurrenceReason(enum.StrEnum):
    SAME_SERVICE_AND_CATEGORY = "SAME_SERVICE_AND_CATEGORY"
    SIMILAR_TITLES = "SIMILAR_TITLES"


@dataclass(frozen=True)
class Candidate:
    id: uuid.UUID
    title: str
    service_id: uuid.UUID | None
    category: str | None
    reported_at: datetime


@dataclass(frozen=True)
class RecurringGroup:
    reason: RecurrenceReason
    incident_ids: tuple[uuid.UUID, ...]  # oldest first
    service_id: uuid.UUID | None = None
    category: str | None = None


def trigrams(text: str) -> frozenset[str]:
    """pg_trgm's trigrams of a text."""
    found: set[str] = set()
    for word in _WORDS.findall(text.lower()):
        padded = f"  {word} "
        found.update(padded[i : i + 3] for i in range(len(padded) - 2))
    return frozenset(found)


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    """pg_trgm's ``similarity``: shared trigrams among all trigrams of either (0 for two empty titles)."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def _similar_pairs(grams: Sequence[frozenset[str]]) -> Iterable[tuple[int, int]]:
    """The pairs of similar titles, comparing only titles that share a trigram (an index of trigrams)."""
    holders: dict[str, list[int]] = defaultdict(list)
    for index, own in enumerate(grams):
        for gram in own:
            holders[gram].append(index)
    for index, own in enumerate(grams):
        shared: dict[int, int] = defaultdict(int)
        for gram in own:
            for other in holders[gram]:
                if other > index:
                    shared[other] += 1
        for other, common in shared.items():
            # |a & b| / |a | b| with |a | b| = |a| + |b| - |a & b|
            if common / (len(own) + len(grams[other]) - common) >= SIMILAR:
                yield index, other


def _components(size: int, pairs: Iterable[tuple[int, int]]) -> list[list[int]]:
    parent = list(range(size))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in pairs:
        parent[root(a)] = root(b)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(size):
        groups[root(i)].append(i)
    return [members for members in groups.values() if len(members) > 1]


def find_groups(candidates: Sequence[Candidate]) -> list[RecurringGroup]:
    """The recurring groups among ``candidates``: largest first, then by their first incident."""
    ordered = sorted(candidates, key=lambda c: (c.reported_at, c.id))
    groups: list[RecurringGroup] = []
    alike: dict[tuple[uuid.UUID, str], list[Candidate]] = defaultdict(list)
    for candidate in ordered:
        if candidate.service_id is not None and candidate.category:
            alike[(candidate.service_id, candidate.category)].append(candidate)
    for (service_id, category), members in alike.items():
        if len(members) > 1:
            groups.append(
                RecurringGroup(
                    RecurrenceReason.SAME_SERVICE_AND_CATEGORY,
                    tuple(m.id for m in members),
                    service_id=service_id,
                    category=category,
                )
            )
    grams = [trigrams(c.title) for c in ordered]
    for indexes in _components(len(ordered), _similar_pairs(grams)):
        groups.append(RecurringGroup(RecurrenceReason.SIMILAR_TITLES, tuple(ordered[i].id for i in indexes)))
    first = {c.id: (c.reported_at, c.id) for c in ordered}
    return sorted(groups, key=lambda g: (-len(g.incident_ids), first[g.incident_ids[0]], g.reason.value))


async def recurring_incidents(
    db: Database, actor: Actor, *, tenant_id: uuid.UUID, start: datetime, end: datetime
) -> list[RecurringGroup]:
    """The tenant's recurring groups among the incidents reported in ``[start, end)`` (cancelled ones
    left out); staff only, since they are the material of problem management."""
    role = actor.role_in(tenant_id)
    if role is None:
        raise not_found("tenant", "tenant")
    if not at_least(role, Role.AGENT):
        raise forbidden("recurring incidents are read by the AGENT role")
    check_window(start, end, at_most_days=MAX_DAYS, what="a search for recurring incidents")
    async with db.transaction(Scope.of([tenant_id])) as session:
        rows = await session.execute(
            select(Incident.id, Incident.title, Incident.service_id, Incident.category, Incident.reported_at)
            .where(
                Incident.tenant_id == tenant_id,
                Incident.reported_at >= start,
                Incident.reported_at < end,
                Incident.status != IncidentStatus.CANCELLED,
            )
            .order_by(Incident.reported_at.desc(), Incident.id.desc())
            .limit(MAX_INCIDENTS)
        )
        candidates = [Candidate(*row) for row in rows]
    return find_groups(candidates)
