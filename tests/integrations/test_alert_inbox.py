"""The alert inbox and its worker, against the real database: alerts stored by one statement however many
arrive together, applied per tenant in the order they were accepted, many to a transaction, and never
lost: not when one of them cannot be applied, not across a restart, not when two replicas meet."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from domain.db import Database, Scope, to_async_url
from domain.intake.alerts import parse_event
from domain.intake.inbox import Accepted, AlertInbox, UnknownKey
from domain.intake.keys import create_integration_key, revoke_integration_key
from domain.intake.worker import FAILED, AlertWorker
from domain.tenancy.roles import Role
from tests import factories as f
from tests.conftest import TestDatabase


@dataclass
class Keys:
    tenant: uuid.UUID
    acme: str
    initech: str
    revoked: str


@pytest_asyncio.fixture(scope="module")
async def keys(db: Database) -> Keys:
    acme = await f.create_tenant(db, "acme")
    initech = await f.create_tenant(db, "initech")
    manager = f.actor("mia", {acme.id: Role.MANAGER, initech.id: Role.MANAGER})
    made = [
        await create_integration_key(db, manager, tenant_id=tenant, name=name, service_id=None)
        for tenant, name in ((acme.id, "Alertmanager"), (initech.id, "Zabbix"), (acme.id, "Old"))
    ]
    await revoke_integration_key(db, manager, key_id=made[2].id)
    return Keys(acme.id, made[0].routing_key, made[1].routing_key, made[2].routing_key)


def body(routing_key: str, action: str, dedup: str, summary: str = "Disk full on db-1") -> dict[str, Any]:
    event: dict[str, Any] = {"routing_key": routing_key, "event_action": action, "dedup_key": dedup}
    if action == "trigger":
        event["payload"] = {"summary": summary, "source": "db-1", "severity": "warning"}
    return event


async def accept(inbox: AlertInbox, *bodies: dict[str, Any]) -> list[Accepted | BaseException]:
    """Every body offered at once, as concurrent requests would."""
    return await asyncio.gather(*(inbox.accept(parse_event(b), b) for b in bodies), return_exceptions=True)


async def apply_all(worker: AlertWorker) -> int:
    applied = 0
    while done := await worker.run_once():
        applied += done
    return applied


def log_of(test_db: TestDatabase, dedup: str) -> list[tuple[Any, ...]]:
    rows = f.owner_sql(
        test_db,
        "SELECT a.action, a.outcome, i.number, i.status, i.alert_count FROM alerts a"
        " LEFT JOIN incidents i ON i.tenant_id = a.tenant_id AND i.id = a.incident_id"
        " WHERE a.dedup_key = :d ORDER BY a.position",
        {"d": dedup},
    )
    return [tuple(row) for row in rows]


async def test_alerts_arriving_together_are_stored_by_one_statement(
    db: Database, keys: Keys, test_db: TestDatabase
) -> None:
    inbox = AlertInbox(db)
    dedup = uuid.uuid4().hex
    # Known once: the lookup of a key is not the store's to count.
    await accept(inbox, body(keys.acme, "trigger", dedup), body(keys.initech, "trigger", dedup))
    statements: list[str] = []
    db.statement_observers.append(statements.append)
    try:
        answers = await accept(
            inbox,
            *(body(keys.acme, "trigger", dedup) for _ in range(30)),
            body(keys.revoked, "trigger", dedup),
            body("0" * 32, "trigger", dedup),
            body("not,a key", "trigger", dedup),
            *(body(keys.initech, "acknowledge", dedup) for _ in range(20)),
        )
    finally:
        db.statement_observers.remove(statements.append)
    assert [type(a) for a in answers] == [Accepted] * 30 + [UnknownKey] * 3 + [Accepted] * 20
    assert {a.dedup_key for a in answers if isinstance(a, Accepted)} == {dedup}
    # Both tenants' alerts in one INSERT; the unknown keys were looked up (and not found) by a session.
    assert [s for s in statements if s.startswith("INSERT")] == [statements[-1]]
    stored = f.owner_sql(test_db, "SELECT count(*) FROM alerts WHERE dedup_key = :d", {"d": dedup})
    assert stored[0][0] == 52


async def test_a_trigger_without_a_dedup_key_is_answered_with_the_one_it_is_stored_with(
    db: Database, keys: Keys, test_db: TestDatabase
) -> None:
    inbox = AlertInbox(db)
    event = {k: v for k, v in body(keys.acme, "trigger", "-").items() if k != "dedup_key"}
    [answer] = await accept(inbox, event)
    assert isinstance(answer, Accepted) and len(answer.dedup_key) == 32
    stored = f.owner_sql(test_db, "SELECT body FROM alerts WHERE dedup_key = :d", {"d": answer.dedup_key})
    # The routing key is a credential: the alert is kept without it.
    assert "routing_key" not in stored[0][0] and stored[0][0]["payload"]["source"] == "db-1"


async def test_a_tenants_alerts_are_applied_in_the_order_they_were_accepted(
    db: Database, keys: Keys, test_db: TestDatabase
) -> None:
    inbox = AlertInbox(db)
    dedup = uuid.uuid4().hex
    for action in ("trigger", "trigger", "resolve", "trigger", "acknowledge", "acknowledge"):
        await accept(inbox, body(keys.acme, action, dedup, summary=f"Queue stuck {dedup}"))
    # All six in one transaction: the repeat finds the incident the first opened, the resolve ends it,
    # and the third trigger opens a new one, which the acknowledge moves on.
    assert await AlertWorker(db, batch=100).apply_pending(keys.tenant) >= 6
    log = log_of(test_db, dedup)
    first, second = log[0][2], log[3][2]
    assert first != second
    assert log == [
        ("trigger", "Event processed", first, "RESOLVED", 2),
        ("trigger", "Event processed", first, "RESOLVED", 2),
        ("resolve", "Event processed", first, "RESOLVED", 2),
        ("trigger", "Event processed", second, "IN_PROGRESS", 1),
        ("acknowledge", "Event processed", second, "IN_PROGRESS", 1),
        ("acknowledge", "Event processed; the incident is already acknowledged", second, "IN_PROGRESS", 1),
    ]
    # The resolved incident gave its dedup key up to the new one.
    held = f.owner_sql(
        test_db,
        "SELECT number FROM incidents WHERE tenant_id = :t AND alert_dedup_key = :d",
        {"t": keys.tenant, "d": dedup},
    )
    assert [row[0] for row in held] == [second]


async def test_accepted_alerts_are_applied_by_whichever_worker_runs_next(
    db: Database, keys: Keys, test_db: TestDatabase
) -> None:
    # Stored by one process that then stopped before applying them; applied by a worker started later.
    dedup = uuid.uuid4().hex
    await accept(AlertInbox(db), *(body(keys.initech, "trigger", dedup) for _ in range(3)))
    assert [row[1] for row in log_of(test_db, dedup)] == [None, None, None]
    await apply_all(AlertWorker(db))
    assert log_of(test_db, dedup)[-1][1:] == ("Event processed", log_of(test_db, dedup)[0][2], "NEW", 3)
    f.alerts_applied(test_db)


async def test_a_tenant_another_replica_is_applying_is_left_to_it(
    db: Database, keys: Keys, test_db: TestDatabase
) -> None:
    dedup = uuid.uuid4().hex
    await accept(AlertInbox(db), body(keys.acme, "trigger", dedup))
    lane = f"incidentdesk:intake:{keys.tenant}"
    async with db.transaction(Scope.of([keys.tenant])) as other_replica:
        await other_replica.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:lane, 0))"), {"lane": lane}
        )
        assert await AlertWorker(db).apply_pending(keys.tenant) == 0
    assert await AlertWorker(db).apply_pending(keys.tenant) == 1
    assert log_of(test_db, dedup)[0][1] == "Event processed"


async def test_an_alert_that_cannot_be_applied_is_recorded_and_holds_back_no_other(
    db: Database, keys: Keys, test_db: TestDatabase
) -> None:
    dedup, poison = uuid.uuid4().hex, f"poison {uuid.uuid4().hex}"
    f.owner_sql(
        test_db,
        "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN RAISE EXCEPTION 'refused by a check' USING ERRCODE = '23514'; END $$",
    )
    f.owner_sql(
        test_db,
        "CREATE TRIGGER refuse_poison BEFORE INSERT ON incidents FOR EACH ROW"
        f" WHEN (NEW.title = '{poison}') EXECUTE FUNCTION refuse_poison()",
    )
    try:
        await accept(AlertInbox(db), body(keys.acme, "trigger", dedup))
        await accept(AlertInbox(db), body(keys.acme, "trigger", f"{dedup}-bad", summary=poison))
        await accept(AlertInbox(db), body(keys.acme, "trigger", dedup))
        await apply_all(AlertWorker(db))
    finally:
        f.owner_sql(test_db, "DROP TRIGGER refuse_poison ON incidents")
        f.owner_sql(test_db, "DROP FUNCTION refuse_poison()")
    assert [row[1:] for row in log_of(test_db, f"{dedup}-bad")] == [
        (f"{FAILED} (IntegrityError)", None, None, None)
    ]
    good = log_of(test_db, dedup)
    assert [row[1] for row in good] == ["Event processed", "Event processed"]
    assert good[-1][3:] == ("NEW", 2)


async def test_applied_alerts_are_pruned_after_the_retention_and_pending_ones_never(
    db: Database, keys: Keys, test_db: TestDatabase
) -> None:
    old, waiting = uuid.uuid4().hex, uuid.uuid4().hex
    await accept(AlertInbox(db), body(keys.initech, "acknowledge", old))
    await apply_all(AlertWorker(db))
    await accept(AlertInbox(db), body(keys.initech, "acknowledge", waiting))
    f.owner_sql(
        test_db,
        "UPDATE alerts SET received_at = received_at - interval '9 days',"
        " processed_at = processed_at - interval '8 days' WHERE dedup_key = :d",
        {"d": old},
    )
    f.owner_sql(
        test_db,
        "UPDATE alerts SET received_at = received_at - interval '9 days' WHERE dedup_key = :d",
        {"d": waiting},
    )
    assert await AlertWorker(db, retention=timedelta(days=7)).prune() >= 1
    assert log_of(test_db, old) == []
    assert [row[1] for row in log_of(test_db, waiting)] == [None]
    await apply_all(AlertWorker(db))


def test_the_served_worker_takes_its_batch_and_retention_from_the_settings(test_db: TestDatabase) -> None:
    from api.intake import AlertIntake

    settings = f.settings_for(test_db, alert_batch_size=25, alert_log_retention_days=30)
    intake = AlertIntake(Database(create_async_engine(to_async_url(test_db.app_url))), settings)
    assert intake.worker.batch == 25 and intake.worker.retention == timedelta(days=30)
