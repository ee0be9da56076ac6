"""The outbox read sees both outbox tables in one snapshot: an incident event committing between the
read of incident events and the read of bulletin events, followed by a bulletin event with the next
``seq``, must not be passed over."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from domain.db import Database
from domain.outbox.store import events_after
from domain.tenancy.roles import Role
from tests import factories as f
from tests.conftest import TestDatabase


async def test_an_event_committing_between_the_two_reads_is_not_passed_over(
    test_db: TestDatabase, db: Database
) -> None:
    acme = await f.create_tenant(db, "acme")
    await f.add_member(db, acme.id, "alice", Role.AGENT)
    incident = await f.report(db, f.actor("alice", {acme.id: Role.AGENT}), acme.id, "Mail down", "")
    start = max(e.seq for e in await events_after(db, acme.id, 0))
    owner = f.owner_engine(test_db)
    fired: list[int] = []

    def commit_two_more(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        # Just before the bulletin events are read: an incident event commits, then a bulletin event.
        if "FROM bulletin_events" not in statement or fired:
            return
        params = {"t": acme.id, "i": incident.id}
        for table, columns, values in (
            ("incident_events", "incident_id, kind, visibility", ":i, 'COMMENTED', 'PUBLIC'"),
            ("bulletin_events", "kind, published", "'SERVICE_STATUS_CHANGED', true"),
        ):
            [(seq,)] = f.owner_sql(
                owner,
                "UPDATE tenant_counters SET last_event_seq = last_event_seq + 1 WHERE tenant_id = :t"
                " RETURNING last_event_seq",
                params,
            )
            f.owner_sql(
                owner,
                f"INSERT INTO {table} (tenant_id, id, seq, {columns}, data, at)"
                f" VALUES (:t, gen_random_uuid(), :seq, {values}, '{{}}', now())",
                {**params, "seq": seq},
            )
            fired.append(seq)

    engine = db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", commit_two_more)
    try:
        first = await events_after(db, acme.id, start)
    finally:
        event.remove(engine, "before_cursor_execute", commit_two_more)
        owner.dispose()
    assert len(fired) == 2
    seen = [e.seq for e in first]
    resume = max(seen, default=start)
    seen += [e.seq for e in await events_after(db, acme.id, resume)]
    assert sorted(seen) == sorted(set(seen)) and set(fired) <= set(seen), (fired, seen)
