"""The clock ledger written by the real use cases, and the stored outcome computed from it.

Every status change, the first response and every priority change leave their entry in the same
transaction; children moved by a parent's cascade get entries too; incidents no contract governs get a
ledger but no stored outcome until a contract covering them appears.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest_asyncio
from sqlalchemy import Engine

from auth import Principal
from domain.columns import utcnow
from domain.db import Database
from domain.incidents import handling, playbooks, relations
from domain.incidents import service as incidents
from domain.incidents.enums import HoldReason, Impact, ResolutionCode, Urgency
from domain.sla.scanner import scan_once
from domain.tenancy.roles import Role
from tests import factories as f
from tests.sla.support import create_contract, ledger, outcome


@dataclass
class World:
    acme: uuid.UUID
    bare: uuid.UUID  # a tenant without a contract (yet)
    mia: Principal  # MANAGER of both
    alice: Principal  # AGENT of both
    carl: Principal  # CUSTOMER of acme


@pytest_asyncio.fixture(scope="module")
async def world(db: Database) -> AsyncIterator[World]:
    acme = await f.create_tenant(db, "acme")
    bare = await f.create_tenant(db, "bare")
    for tenant in (acme, bare):
        await f.add_member(db, tenant.id, "mia", Role.MANAGER)
        await f.add_member(db, tenant.id, "alice", Role.AGENT)
    await f.add_member(db, acme.id, "carl", Role.CUSTOMER)
    both = {acme.id: Role.MANAGER, bare.id: Role.MANAGER}
    world = World(
        acme=acme.id,
        bare=bare.id,
        mia=f.actor("mia", both),
        alice=f.actor("alice", {acme.id: Role.AGENT, bare.id: Role.AGENT}),
        carl=f.actor("carl", {acme.id: Role.CUSTOMER}),
    )
    await create_contract(db, world.mia, acme.id, effective_from=utcnow() - timedelta(days=1))
    yield world


async def test_a_whole_life_is_in_the_ledger(db: Database, world: World, owner: Engine) -> None:
    w = world
    incident = await f.report(db, w.carl, w.acme, "Mail is down")
    assert ledger(owner, incident.id) == [("START", "P3", None)]
    change = incidents.Classification(impact=Impact.HIGH, urgency=Urgency.HIGH)
    await incidents.classify_incident(
        db, w.alice, incident_id=incident.id, expected_version=None, change=change
    )
    await incidents.acknowledge_incident(db, w.alice, incident_id=incident.id, expected_version=None)
    await handling.put_incident_on_hold(
        db,
        w.alice,
        incident_id=incident.id,
        expected_version=None,
        reason=HoldReason.AWAITING_CUSTOMER,
        note="logs?",
    )
    await handling.resume_incident(db, w.alice, incident_id=incident.id, expected_version=None)
    await handling.resolve_incident(
        db,
        w.alice,
        incident_id=incident.id,
        expected_version=None,
        code=ResolutionCode.FIXED,
        notes="restarted",
    )
    await handling.reopen_incident(db, w.carl, incident_id=incident.id, reason="still down")
    await handling.resolve_incident(
        db,
        w.alice,
        incident_id=incident.id,
        expected_version=None,
        code=ResolutionCode.FIXED,
        notes="really fixed",
    )
    await handling.close_incident(db, w.carl, incident_id=incident.id, expected_version=None)
    assert ledger(owner, incident.id) == [
        ("START", "P3", None),
        ("PRIORITY", "P1", None),
        ("RESPOND", None, None),
        ("HOLD", None, "AWAITING_CUSTOMER"),
        ("RESUME", None, None),
        ("RESOLVE", None, None),
        ("REOPEN", None, None),
        ("RESOLVE", None, None),
        ("CLOSE", None, None),
    ]
    stored = outcome(owner, incident.id)
    assert stored is not None
    assert stored["priority"] == "P1"
    assert stored["response_state"] == "MET" and stored["resolution_state"] == "MET"
    assert stored["response_stopped"] and stored["resolution_stopped"]
    assert stored["next_due_at"] is None  # nothing can fall due any more


async def test_a_cancel_and_a_new_incident_resolved_at_once(
    db: Database, world: World, owner: Engine
) -> None:
    w = world
    cancelled = await f.report(db, w.carl, w.acme, "Printer")
    await handling.cancel_incident(
        db, w.carl, incident_id=cancelled.id, expected_version=None, reason="found the cable"
    )
    assert [kind for kind, _, _ in ledger(owner, cancelled.id)] == ["START", "CANCEL"]
    stored = outcome(owner, cancelled.id)
    assert stored is not None and stored["response_cancelled"] and stored["resolution_cancelled"]
    quick = await f.report(db, w.carl, w.acme, "Password")
    await handling.resolve_incident(
        db,
        w.alice,
        incident_id=quick.id,
        expected_version=None,
        code=ResolutionCode.USER_ERROR,
        notes="caps lock",
    )
    assert [kind for kind, _, _ in ledger(owner, quick.id)] == ["START", "RESPOND", "RESOLVE"]


async def test_children_moved_by_a_cascade_get_entries(db: Database, world: World, owner: Engine) -> None:
    w = world
    parent = await f.report(db, w.alice, w.acme, "Network outage")
    child = await f.report(db, w.carl, w.acme, "Cannot reach the intranet")
    await relations.link_incidents(db, w.alice, parent_id=parent.id, child_ids=[child.id])
    await incidents.acknowledge_incident(db, w.alice, incident_id=parent.id, expected_version=None)
    await handling.put_incident_on_hold(
        db,
        w.alice,
        incident_id=parent.id,
        expected_version=None,
        reason=HoldReason.AWAITING_VENDOR,
        note=None,
    )
    await handling.resolve_incident(
        db,
        w.alice,
        incident_id=parent.id,
        expected_version=None,
        code=ResolutionCode.VENDOR_FIX,
        notes="carrier fixed",
    )
    assert [kind for kind, _, _ in ledger(owner, child.id)] == ["START", "RESPOND", "HOLD", "RESOLVE"]
    assert ledger(owner, child.id)[2] == ("HOLD", None, "AWAITING_VENDOR")


async def test_a_later_contract_covers_incidents_already_reported(
    db: Database, world: World, owner: Engine
) -> None:
    w = world
    early = await f.report(db, w.alice, w.bare, "Before any contract")
    assert ledger(owner, early.id) == [("START", "P3", None)]
    assert outcome(owner, early.id) is None  # nothing governs it yet
    await create_contract(db, w.mia, w.bare, effective_from=utcnow() - timedelta(hours=1))
    queued = outcome(owner, early.id)
    assert queued is not None and queued["response_state"] is None and queued["next_due_at"] is not None
    result = await scan_once(db)
    assert result.refreshed >= 1
    computed = outcome(owner, early.id)
    assert computed is not None and computed["response_state"] == "RUNNING"
    # P3: at risk after 180 of 240 response minutes, projected from the report
    assert computed["next_due_at"] == early.reported_at + timedelta(minutes=180)


async def test_incident_models_that_change_the_priority_leave_priority_entries(
    db: Database, world: World, owner: Engine
) -> None:
    w = world
    spec = playbooks.ModelSpec(
        tenant_id=w.acme, name="Outage", match_keywords=("outage",), impact=Impact.HIGH, urgency=Urgency.HIGH
    )
    model = await playbooks.create_incident_model(db, w.mia, spec)
    matched = await f.report(db, w.carl, w.acme, "Total outage of the portal")  # applied on report
    assert ledger(owner, matched.id) == [("START", "P3", None), ("PRIORITY", "P1", None)]
    by_hand = await f.report(db, w.carl, w.acme, "Slow portal")
    await playbooks.apply_incident_model(db, w.alice, incident_id=by_hand.id, model_id=model.id)
    assert ledger(owner, by_hand.id) == [("START", "P3", None), ("PRIORITY", "P1", None)]
    stored = outcome(owner, by_hand.id)
    assert stored is not None and stored["priority"] == "P1" and stored["response_target_minutes"] == 30
