"""Auto-close: RESOLVED incidents close by themselves once their tenant's delay has passed (resolution
times are moved back through the owner connection: nobody waits three days), children close with a CLOSED
parent, a major incident waits for its published review, two replicas scanning at once close each incident
exactly once, and the served app runs the scan in the background."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest_asyncio
from sqlalchemy import Engine

from auth import Principal
from domain.columns import utcnow
from domain.db import Database, create_database
from domain.incidents import handling, major, relations, reviews
from domain.incidents.auto_close import close_due_incidents
from domain.incidents.enums import ResolutionCode
from domain.incidents.models import Incident
from domain.tenancy.roles import Role
from tests import factories as f
from tests.waiting import eventually


@dataclass
class Setup:
    acme: uuid.UUID
    globex: uuid.UUID
    carol: Principal
    alice: Principal
    mona: Principal
    gus: Principal
    gina: Principal


@pytest_asyncio.fixture(scope="module")
async def setup(db: Database, test_db: Any) -> Setup:
    acme = (await f.create_tenant(db, "acme")).id
    globex = (await f.create_tenant(db, "globex")).id
    f.owner_sql(test_db, "UPDATE tenants SET auto_close_days = 1 WHERE id = :t", {"t": globex})
    people = {
        "carol": (acme, Role.CUSTOMER),
        "alice": (acme, Role.AGENT),
        "mona": (acme, Role.MANAGER),
        "gus": (globex, Role.CUSTOMER),
        "gina": (globex, Role.AGENT),
    }
    for subject, (tenant, role) in people.items():
        await f.add_member(db, tenant, subject, role)
    actors = {subject: f.actor(subject, {tenant: role}) for subject, (tenant, role) in people.items()}
    return Setup(acme=acme, globex=globex, **actors)


async def resolved(
    db: Database, reporter: Principal, agent: Principal, tenant: uuid.UUID, title: str
) -> Incident:
    reported = await f.report(db, reporter, tenant, title)
    return await handling.resolve_incident(
        db, agent, incident_id=reported.id, expected_version=None, code=ResolutionCode.FIXED, notes="fixed"
    )


def resolved_ago(owner: Engine, incident_id: uuid.UUID, days: float) -> None:
    f.owner_sql(
        owner,
        "UPDATE incidents SET resolved_at = now() - make_interval(secs => :s) WHERE id = :id",
        {"s": days * 86400, "id": incident_id},
    )


def row(owner: Engine, incident_id: uuid.UUID) -> dict[str, Any]:
    found = f.owner_sql(
        owner,
        "SELECT status, version, closed_at,"
        " (SELECT count(*) FROM incident_events e WHERE e.incident_id = i.id AND e.kind = 'CLOSED') AS closes,"
        " (SELECT actor FROM incident_events e WHERE e.incident_id = i.id ORDER BY seq DESC LIMIT 1) AS actor"
        " FROM incidents i WHERE id = :id",
        {"id": incident_id},
    )
    return dict(found[0]._mapping)


async def test_due_incidents_close_after_their_tenants_delay(
    db: Database, owner: Engine, setup: Setup
) -> None:
    s = setup
    due = await resolved(db, s.carol, s.alice, s.acme, "resolved four days ago")
    fresh = await resolved(db, s.carol, s.alice, s.acme, "resolved two days ago")
    quick = await resolved(db, s.gus, s.gina, s.globex, "globex closes after one day")
    resolved_ago(owner, due.id, 4)
    resolved_ago(owner, fresh.id, 2)
    resolved_ago(owner, quick.id, 1.1)
    assert await close_due_incidents(db, utcnow()) == 2
    closed = row(owner, due.id)
    assert (closed["status"], closed["version"], closed["closes"], closed["actor"]) == ("CLOSED", 3, 1, None)
    assert closed["closed_at"] is not None
    assert row(owner, quick.id)["status"] == "CLOSED"
    assert row(owner, fresh.id)["status"] == "RESOLVED"
    # Nothing more is due now; a day later the fresh one is.
    assert await close_due_incidents(db, utcnow()) == 0
    assert await close_due_incidents(db, utcnow() + timedelta(days=1, minutes=1)) == 1
    assert row(owner, fresh.id)["closes"] == 1


async def test_a_reopened_incident_is_not_due(db: Database, owner: Engine, setup: Setup) -> None:
    s = setup
    incident = await resolved(db, s.carol, s.alice, s.acme, "reopened")
    resolved_ago(owner, incident.id, 5)
    await handling.reopen_incident(db, s.carol, incident_id=incident.id, reason="still broken")
    assert await close_due_incidents(db, utcnow() + timedelta(days=30)) == 0
    assert row(owner, incident.id)["status"] == "IN_PROGRESS"


async def test_a_major_incident_waits_for_its_published_review(
    db: Database, owner: Engine, setup: Setup
) -> None:
    s = setup
    reported = await f.report(db, s.carol, s.acme, "major one")
    await major.declare_major_incident(
        db, s.mona, incident_id=reported.id, expected_version=None, commander="alice"
    )
    await handling.resolve_incident(
        db, s.alice, incident_id=reported.id, expected_version=None, code=ResolutionCode.FIXED, notes="fixed"
    )
    resolved_ago(owner, reported.id, 10)
    assert await close_due_incidents(db, utcnow()) == 0
    assert row(owner, reported.id)["status"] == "RESOLVED"
    await reviews.save_incident_review(
        db, s.mona, reviews.ReviewSpec(incident_id=reported.id, summary="what happened", publish=True)
    )
    assert await close_due_incidents(db, utcnow()) == 1
    assert row(owner, reported.id)["status"] == "CLOSED"


async def test_children_close_with_a_closed_parent(db: Database, owner: Engine, setup: Setup) -> None:
    s = setup
    parent = await f.report(db, s.alice, s.acme, "parent")
    children = [await f.report(db, s.carol, s.acme, f"child {n}") for n in range(2)]
    await relations.link_incidents(db, s.alice, parent_id=parent.id, child_ids=[c.id for c in children])
    await handling.resolve_incident(
        db,
        s.alice,
        incident_id=parent.id,
        expected_version=None,
        code=ResolutionCode.FIXED,
        notes="fixed centrally",
    )
    # One child rejects the resolution and is resolved again later, on its own.
    await handling.reopen_incident(db, s.carol, incident_id=children[0].id, reason="not for me")
    resolved_ago(owner, parent.id, 4)
    assert await close_due_incidents(db, utcnow()) == 2  # the parent, and the child it resolved
    assert [row(owner, c.id)["status"] for c in children] == ["IN_PROGRESS", "CLOSED"]
    await handling.resolve_incident(
        db,
        s.alice,
        incident_id=children[0].id,
        expected_version=None,
        code=ResolutionCode.FIXED,
        notes="fixed too",
    )
    # Its own delay has not passed, but its parent is closed: it closes with it.
    assert await close_due_incidents(db, utcnow()) == 1
    assert row(owner, children[0].id)["status"] == "CLOSED"


async def test_two_replicas_close_each_incident_exactly_once(
    db: Database, owner: Engine, setup: Setup, test_db: Any
) -> None:
    s = setup
    due = [await resolved(db, s.gus, s.gina, s.globex, f"due {n}") for n in range(40)]
    f.owner_sql(
        owner,
        "UPDATE incidents SET resolved_at = now() - interval '2 days' WHERE id = ANY(:ids)",
        {"ids": [i.id for i in due]},
    )
    replicas = [create_database(test_db.app_url, pool_size=2) for _ in range(2)]
    try:
        now = utcnow()
        counts = await asyncio.gather(*(close_due_incidents(r, now, batch=5) for r in replicas))
    finally:
        for replica in replicas:
            await replica.dispose()
    assert sum(counts) == 40
    closes = f.owner_sql(
        owner,
        "SELECT count(*) FROM incident_events WHERE kind = 'CLOSED' AND incident_id = ANY(:ids)",
        {"ids": [i.id for i in due]},
    )
    assert closes[0][0] == 40
    assert {row(owner, i.id)["version"] for i in due} == {3}


def test_the_served_app_closes_due_incidents_in_the_background(
    test_db: Any, owner: Engine, setup: Setup
) -> None:
    s = setup
    incident = asyncio.run(_resolved_on_fresh_pool(test_db, s))
    resolved_ago(owner, incident, 7)
    settings = f.settings_for(test_db, auto_close_interval_seconds=0.2)
    with f.app_server(test_db, settings):
        eventually(
            lambda: row(owner, incident)["status"] == "CLOSED", "the background scan closed it", every=0.1
        )
    assert row(owner, incident)["closes"] == 1


async def _resolved_on_fresh_pool(test_db: Any, s: Setup) -> uuid.UUID:
    pool = create_database(test_db.app_url, pool_size=1)
    try:
        return (await resolved(pool, s.carol, s.alice, s.acme, "closed in the background")).id
    finally:
        await pool.dispose()
