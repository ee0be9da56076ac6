"""The delivery worker driven round by round, without the app: what survives a restart, a crash between
sending and recording, and a DNS answer that turns private after the endpoint was created."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import text

from api.relay import encode_id
from domain.db import Database, Scope
from domain.incidents import service as incidents
from domain.incidents.enums import Visibility
from domain.settings import Settings
from domain.tenancy.roles import Role
from domain.webhooks import service as webhooks
from domain.webhooks.signing import SecretBox
from domain.webhooks.worker import WebhookWorker
from tests import factories as f
from tests.conftest import TestDatabase
from tests.integrations.receiver import Receiver, running_receiver


@dataclass
class World:
    tenant: uuid.UUID
    mia: Any


@pytest.fixture(scope="module")
def settings(test_db: TestDatabase) -> Settings:
    return f.settings_for(
        test_db,
        webhook_allow_private_targets=True,
        webhook_retry_base_seconds=0.05,
        webhook_timeout_seconds=2.0,
    )


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest_asyncio.fixture(scope="module")
async def world(db: Database) -> World:
    tenant = await f.create_tenant(db, "acme")
    await f.add_member(db, tenant.id, "mia", Role.MANAGER)
    return World(tenant=tenant.id, mia=f.actor("mia", {tenant.id: Role.MANAGER}))


@pytest.fixture(autouse=True)
def only_this_tests_endpoints(test_db: TestDatabase) -> None:
    """Each test watches its own endpoint: the ones of earlier tests stop receiving."""
    f.owner_sql(test_db, "UPDATE webhook_endpoints SET active = false")


@pytest_asyncio.fixture
async def worker(db: Database, settings: Settings) -> AsyncIterator[WebhookWorker]:
    running = WebhookWorker(db, settings, global_id=encode_id)
    yield running
    await running.stop()


async def subscribe(
    db: Database, world: World, receiver: Receiver, mode: str, *, allow_private: bool = True
) -> str:
    name = uuid.uuid4().hex[:10]
    created = await webhooks.create_webhook_endpoint(
        db,
        world.mia,
        tenant_id=world.tenant,
        url=receiver.target(mode, name),
        event_kinds=["CREATED", "COMMENTED"],
        box=SecretBox.for_settings(Settings()),
        allow_private_targets=allow_private,
    )
    receiver.secrets[name] = created.secret
    return name


async def drain(worker: WebhookWorker, rounds: int = 20) -> None:
    """Rounds until nothing is left to do now, each one's sends recorded before the next."""
    for _ in range(rounds):
        worked, _ = await worker.run_once()
        await worker.settle()
        if not worked:
            return


async def test_events_committed_while_no_worker_ran_are_delivered_after_a_restart(
    db: Database, world: World, receiver: Receiver, settings: Settings
) -> None:
    name = await subscribe(db, world, receiver, "ok")
    incident = await f.report(db, world.mia, world.tenant, "Logged while every replica was down")
    await incidents.add_comment(
        db, world.mia, incident_id=incident.id, body="still down", visibility=Visibility.PUBLIC
    )
    # A worker fans the events out, then its process dies before sending anything.
    crashed = WebhookWorker(db, settings, global_id=encode_id)
    assert await crashed.fan_out(await db.all_tenant_ids()) == 2
    await crashed.stop()
    assert receiver.of(name) == []
    # The next process starts from the stored cursor and deliveries: nothing lost, nothing doubled.
    restarted = WebhookWorker(db, settings, global_id=encode_id)
    try:
        await drain(restarted)
    finally:
        await restarted.stop()
    assert [r.kind for r in receiver.of(name)] == ["CREATED", "COMMENTED"]


async def test_a_send_whose_outcome_was_never_recorded_is_sent_again(
    db: Database, world: World, receiver: Receiver, worker: WebhookWorker, test_db: TestDatabase
) -> None:
    name = await subscribe(db, world, receiver, "ok")
    await f.report(db, world.mia, world.tenant, "Sent, then the process died")
    tenants = await db.all_tenant_ids()
    await worker.fan_out(tenants)
    claimed = await worker._claim(tenants)
    assert len(claimed) == 1
    await worker.send(claimed[0])  # ... and the process dies before recording the answer.
    assert len(receiver.of(name)) == 1
    # While the claim's lease runs, nobody sends it again.
    await drain(worker)
    assert len(receiver.of(name)) == 1
    # Once it lapses, the delivery goes out again: at least once, with the same webhook-id.
    f.owner_sql(
        test_db,
        "UPDATE webhook_deliveries SET next_attempt_at = now() - interval '1 second' WHERE id = :d",
        {"d": claimed[0].delivery_id},
    )
    await drain(worker)
    first, second = receiver.of(name)
    assert first.message_id == second.message_id and first.body == second.body
    assert second.verified


async def test_a_target_that_turns_private_is_refused_at_delivery(
    db: Database, world: World, receiver: Receiver, settings: Settings
) -> None:
    # Created while allowed (as by an older configuration, or before its DNS answer changed) ...
    name = await subscribe(db, world, receiver, "ok")
    await f.report(db, world.mia, world.tenant, "Rebinding attempt")
    strict = WebhookWorker(
        db, settings.model_copy(update={"webhook_allow_private_targets": False}), global_id=encode_id
    )
    try:
        tenants = await db.all_tenant_ids()
        await strict.fan_out(tenants)
        await strict.deliver_due(tenants)
        await strict.settle()
    finally:
        await strict.stop()
    # ... the delivery never reaches the loopback receiver, and the log says why.
    assert receiver.of(name) == []
    async with db.transaction(Scope.of([world.tenant])) as session:
        row = (
            await session.execute(
                text(
                    "SELECT a.error FROM webhook_attempts a JOIN webhook_deliveries d"
                    " ON d.tenant_id = a.tenant_id AND d.id = a.delivery_id"
                    " JOIN webhook_endpoints e ON e.tenant_id = d.tenant_id AND e.id = d.endpoint_id"
                    " WHERE e.url LIKE :u"
                ),
                {"u": f"%/{name}"},
            )
        ).one()
    assert row.error.startswith("target refused")


async def test_a_blocked_head_holds_back_only_its_own_incident(
    db: Database, world: World, receiver: Receiver, worker: WebhookWorker, test_db: TestDatabase
) -> None:
    name = await subscribe(db, world, receiver, "ok")
    stuck = await f.report(db, world.mia, world.tenant, "Head waits for a retry")
    await incidents.add_comment(
        db, world.mia, incident_id=stuck.id, body="behind the head", visibility=Visibility.PUBLIC
    )
    free = await f.report(db, world.mia, world.tenant, "Unrelated incident")
    tenants = await db.all_tenant_ids()
    await worker.fan_out(tenants)
    # The stuck incident's first delivery waits for a retry an hour away.
    f.owner_sql(
        test_db,
        "UPDATE webhook_deliveries SET next_attempt_at = now() + interval '1 hour'"
        " WHERE incident_id = :i AND event_kind = 'CREATED'",
        {"i": stuck.id},
    )
    await drain(worker)
    delivered = {(r.incident, r.kind) for r in receiver.of(name)}
    assert delivered == {(encode_id("Incident", free.id), "CREATED")}
    _, next_due = await worker.run_once()
    assert next_due is not None  # the worker sleeps until the head is due, not in a busy loop
