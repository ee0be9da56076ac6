"""Work entries a provider can bill, over HTTP with real tokens: logging with a billable flag, a note and
the day the work was done; corrections and withdrawals by the author or a MANAGER, each one INTERNAL
timeline event; what customers see; closing a month of the tenant's books, in its own timezone; and
every refusal answering one userError and writing nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from sqlalchemy import Engine, text

from domain.billing import periods, worklog
from domain.db import Database, Scope
from domain.errors import ErrorCode, Refused
from domain.settings import Settings
from domain.tenancy.roles import Role
from tests import factories as f
from tests.billing.support import World, done, log, refused, reported_on, seed_world
from tests.incidents.practice import TIMELINE
from tests.waiting import eventually_async

JANUARY = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


@pytest_asyncio.fixture(scope="module")
async def world(db: Database, settings: Settings) -> World:
    return await seed_world(db, settings)


def timeline(live: f.LiveApp, token: str, incident_id: str) -> list[dict[str, Any]]:
    query = f"query($id: ID!) {{ node(id: $id) {{ ... on Incident {{ {TIMELINE} }} }} }}"
    node = live.gql_ok(token, query, {"id": incident_id})["node"]
    return [edge["node"] for edge in node["timeline"]["edges"]]


def work_events(live: f.LiveApp, token: str, incident_id: str) -> list[dict[str, Any]]:
    return [e for e in timeline(live, token, incident_id) if e["kind"].startswith("WORK_")]


def test_work_is_logged_billable_by_default_with_a_note_and_the_day_it_was_done(
    live: f.LiveApp, owner: Engine, world: World
) -> None:
    alice = world.tokens["alice"]
    incident = reported_on(live, owner, world.tokens["carol"], "Backups fail", JANUARY)
    first = log(live, alice, incident["id"], 30, note="read the backup logs")
    second = log(live, alice, incident["id"], 20, billable=False, workedAt="2026-01-10T09:00:00Z")

    assert first["entry"]["billable"] is True and first["entry"]["note"] == "read the backup logs"
    assert second["entry"]["billable"] is False
    assert second["entry"]["workedAt"] == "2026-01-10T09:00:00Z"
    assert second["entry"]["author"] == "alice"
    after = second["incident"]
    assert after["timeSpentMinutes"] == 50 and after["version"] == 3
    # the log reads by when the work was done: the backdated entry first
    assert [e["minutes"] for e in after["workLog"]] == [20, 30]
    events = work_events(live, alice, incident["id"])
    assert [(e["kind"], e["visibility"], e["actor"]) for e in events] == [
        ("WORK_LOGGED", "INTERNAL", "alice")
    ] * 2
    assert events[1]["data"] == {
        "entryId": str(f.row_id(second["entry"]["id"])),
        "minutes": 20,
        "billable": False,
        "workedAt": "2026-01-10T09:00:00+00:00",
    }
    assert events[0]["message"] == "read the backup logs"


def test_work_is_never_dated_in_the_future_nor_before_the_report(
    live: f.LiveApp, owner: Engine, world: World
) -> None:
    alice = world.tokens["alice"]
    incident = reported_on(live, owner, world.tokens["carol"], "Printer jams", JANUARY)
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    for worked_at in (tomorrow, "2026-01-05T07:59:00Z"):
        error = refused(
            live, owner, alice, "logWork", "INVALID", id=incident["id"], minutes=5, workedAt=worked_at
        )
        assert error["field"] == ["input", "workedAt"]
    for minutes in (0, 1441):
        error = refused(live, owner, alice, "logWork", "INVALID", id=incident["id"], minutes=minutes)
        assert error["field"] == ["input", "minutes"]
    # exactly when it was reported is fine
    log(live, alice, incident["id"], 5, workedAt="2026-01-05T08:00:00Z")


def test_an_entry_is_corrected_by_its_author_or_a_manager(
    live: f.LiveApp, owner: Engine, world: World
) -> None:
    tokens = world.tokens
    incident = reported_on(live, owner, tokens["carol"], "VPN drops", JANUARY)
    entry = log(live, tokens["alice"], incident["id"], 30, note="first look")["entry"]

    corrected = done(
        live, tokens["alice"], "correctWork", entryId=entry["id"], minutes=45, workedAt="2026-01-06T10:00:00Z"
    )
    assert corrected["entry"]["minutes"] == 45 and corrected["entry"]["workedAt"] == "2026-01-06T10:00:00Z"
    assert corrected["incident"]["timeSpentMinutes"] == 45
    by_manager = done(live, tokens["mona"], "correctWork", entryId=entry["id"], billable=False, note="")
    assert by_manager["entry"]["billable"] is False and by_manager["entry"]["note"] is None
    assert by_manager["entry"]["author"] == "alice"  # the author stays who did the work

    events = work_events(live, tokens["alice"], incident["id"])
    assert [(e["kind"], e["actor"], e["visibility"]) for e in events] == [
        ("WORK_LOGGED", "alice", "INTERNAL"),
        ("WORK_CORRECTED", "alice", "INTERNAL"),
        ("WORK_CORRECTED", "mona", "INTERNAL"),
    ]
    assert events[1]["data"]["minutes"] == 45
    assert (
        events[1]["data"]["before"]["minutes"] == 30 and events[1]["data"]["before"]["note"] == "first look"
    )
    assert events[2]["data"]["billable"] is False and events[2]["data"]["before"]["billable"] is True

    assert refused(live, owner, tokens["bob"], "correctWork", "FORBIDDEN", entryId=entry["id"], minutes=1)
    assert refused(
        live, owner, tokens["alice-reader"], "correctWork", "FORBIDDEN", entryId=entry["id"], minutes=1
    )
    # to a customer, or to staff of another tenant, entries do not exist
    for who in ("carol", "nina"):
        error = refused(live, owner, tokens[who], "correctWork", "NOT_FOUND", entryId=entry["id"], minutes=1)
        assert error["field"] == ["input", "entryId"]
    error = refused(live, owner, tokens["alice"], "correctWork", "INVALID", entryId=entry["id"], minutes=45)
    assert "nothing to change" in error["message"]
    refused(live, owner, tokens["alice"], "correctWork", "INVALID", entryId=entry["id"], minutes=2000)
    refused(live, owner, tokens["alice"], "correctWork", "NOT_FOUND", entryId=incident["id"], minutes=3)


def test_a_withdrawn_entry_is_gone_and_its_event_keeps_what_it_said(
    live: f.LiveApp, owner: Engine, world: World
) -> None:
    tokens = world.tokens
    incident = reported_on(live, owner, tokens["carol"], "Mail queue stuck", JANUARY)
    kept = log(live, tokens["bob"], incident["id"], 10)["entry"]
    gone = log(live, tokens["alice"], incident["id"], 25, note="logged twice")["entry"]
    refused(live, owner, tokens["bob"], "withdrawWork", "FORBIDDEN", entryId=gone["id"])

    payload = done(live, tokens["alice"], "withdrawWork", entryId=gone["id"], reason="duplicate")
    assert payload["entry"] is None
    assert payload["incident"]["timeSpentMinutes"] == 10
    assert [e["id"] for e in payload["incident"]["workLog"]] == [kept["id"]]
    withdrawn = work_events(live, tokens["alice"], incident["id"])[-1]
    assert withdrawn["kind"] == "WORK_WITHDRAWN" and withdrawn["message"] == "duplicate"
    assert withdrawn["data"]["minutes"] == 25 and withdrawn["data"]["author"] == "alice"
    assert withdrawn["data"]["note"] == "logged twice"
    refused(live, owner, tokens["alice"], "withdrawWork", "NOT_FOUND", entryId=gone["id"])
    # a MANAGER withdraws anyone's entry
    done(live, tokens["mona"], "withdrawWork", entryId=kept["id"])


def test_customers_see_the_time_spent_but_never_the_entries(
    live: f.LiveApp, owner: Engine, world: World
) -> None:
    tokens = world.tokens
    incident = reported_on(live, owner, tokens["carol"], "Slow shop", JANUARY)
    entry = log(live, tokens["alice"], incident["id"], 40, note="internal detail")["entry"]
    query = "query($id: ID!) { node(id: $id) { ... on Incident { timeSpentMinutes workLog { id note } } } }"
    seen = live.gql_ok(tokens["carol"], query, {"id": incident["id"]})["node"]
    assert seen == {"timeSpentMinutes": 40, "workLog": []}
    assert not [e for e in timeline(live, tokens["carol"], incident["id"]) if e["kind"].startswith("WORK_")]
    by_id = "query($id: ID!) { node(id: $id) { ... on WorkLogEntry { id note minutes } } }"
    assert live.gql_ok(tokens["carol"], by_id, {"id": entry["id"]})["node"] is None
    assert live.gql_ok(tokens["nina"], by_id, {"id": entry["id"]})["node"] is None
    assert live.gql_ok(tokens["bob"], by_id, {"id": entry["id"]})["node"]["note"] == "internal detail"


def test_a_closed_month_freezes_the_entries_dated_in_it_in_the_tenants_timezone(
    live: f.LiveApp, owner: Engine, world: World
) -> None:
    tokens = world.tokens
    alice, mona = tokens["alice"], tokens["mona"]
    incident = reported_on(live, owner, tokens["carol"], "Invoices wrong", JANUARY)
    mid_february = log(live, alice, incident["id"], 10, workedAt="2026-02-10T10:00:00Z")["entry"]
    # Berlin is UTC+1 in winter: 22:30 UTC is still February there, 23:30 UTC is already March.
    late_february = log(live, alice, incident["id"], 20, workedAt="2026-02-28T22:30:00Z")["entry"]
    early_march = log(live, alice, incident["id"], 30, workedAt="2026-02-28T23:30:00Z")["entry"]

    closed = done(live, mona, "closeBillingPeriod", tenant="acme", month="2026-02")["billingPeriod"]
    assert (
        closed["month"] == "2026-02" and closed["closedBy"] == "mona" and closed["tenant"]["slug"] == "acme"
    )

    error = refused(
        live,
        owner,
        alice,
        "logWork",
        "PERIOD_CLOSED",
        id=incident["id"],
        minutes=5,
        workedAt="2026-02-15T12:00:00Z",
    )
    assert error["field"] == ["input", "workedAt"] and "2026-02" in error["message"]
    for entry in (mid_february, late_february):
        error = refused(live, owner, mona, "correctWork", "PERIOD_CLOSED", entryId=entry["id"], minutes=1)
        assert error["field"] == ["input", "entryId"]
        refused(live, owner, mona, "withdrawWork", "PERIOD_CLOSED", entryId=entry["id"])
    # March is open: its entries change, but none of them may move into February
    done(live, alice, "correctWork", entryId=early_march["id"], minutes=35)
    error = refused(
        live,
        owner,
        alice,
        "correctWork",
        "PERIOD_CLOSED",
        entryId=early_march["id"],
        workedAt="2026-02-27T10:00:00Z",
    )
    assert error["field"] == ["input", "workedAt"]
    log(live, alice, incident["id"], 5, workedAt="2026-03-02T08:00:00Z")

    refused(live, owner, mona, "closeBillingPeriod", "PERIOD_CLOSED", tenant="acme", month="2026-02")
    periods_query = "query($t: ID) { billingPeriods(tenant: $t) { month closedBy tenant { slug } } }"
    listed = live.gql_ok(mona, periods_query, {"t": "acme"})["billingPeriods"]
    assert {"month": "2026-02", "closedBy": "mona", "tenant": {"slug": "acme"}} in listed
    assert live.gql_ok(tokens["carol"], periods_query, {"t": "acme"})["billingPeriods"] == []
    assert live.gql_ok(tokens["nina"], periods_query, {"t": "acme"})["billingPeriods"] == []


def test_only_a_manager_closes_a_month_and_only_one_that_has_ended(
    live: f.LiveApp, owner: Engine, world: World
) -> None:
    tokens = world.tokens
    for who in ("alice", "carol", "mona-no-manage"):
        refused(live, owner, tokens[who], "closeBillingPeriod", "FORBIDDEN", tenant="acme", month="2025-06")
    refused(live, owner, tokens["nina"], "closeBillingPeriod", "NOT_FOUND", tenant="acme", month="2025-06")
    for month in ("2025-13", "June 2025", "2025-6", "0000-01"):
        error = refused(
            live, owner, tokens["mona"], "closeBillingPeriod", "INVALID", tenant="acme", month=month
        )
        assert error["field"] == ["input", "month"]
    # a month that surely has not ended yet in Berlin, whatever the hour
    ahead = (datetime.now(ZoneInfo("Europe/Berlin")) + timedelta(days=40)).strftime("%Y-%m")
    error = refused(live, owner, tokens["mona"], "closeBillingPeriod", "INVALID", tenant="acme", month=ahead)
    assert "not ended" in error["message"]
    # mona belongs to two tenants: she must name one
    refused(live, owner, tokens["mona"], "closeBillingPeriod", "INVALID", month="2025-06")
    done(live, tokens["mona"], "closeBillingPeriod", tenant=world.tenant("globex"), month="2025-06")


# ---------------------------------------------------------------- closing against changes in flight


def _waiting_on_a_lock(owner: Engine) -> int:
    with owner.connect() as connection:
        return int(
            connection.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
        )


async def test_closing_waits_for_a_change_in_flight_and_a_change_after_it_is_refused(
    db: Database, owner: Engine, world: World
) -> None:
    mona = f.actor("mona", {world.acme: Role.MANAGER, world.globex: Role.MANAGER})
    alice = f.actor("alice", {world.acme: Role.AGENT})
    incident = await f.report(db, alice, world.acme, "Concurrent books")
    with owner.begin() as connection:
        connection.execute(
            text("UPDATE incidents SET reported_at = :at WHERE id = :i"), {"at": JANUARY, "i": incident.id}
        )

    # A change holds April open, uncommitted: closing April waits for it, then closes.
    async with db.transaction(Scope.of([world.acme])) as session:
        await periods.hold_open(session, world.acme, [(date(2026, 4, 1), ())])
        closing = asyncio.create_task(
            periods.close_billing_period(db, mona, tenant_id=world.acme, month="2026-04")
        )
        await eventually_async(lambda: _waiting_on_a_lock(owner) > 0, "the closing to wait for the change")
        assert not closing.done()
    assert (await closing).month == date(2026, 4, 1)

    # May is being closed, uncommitted: a change dated in May waits, then sees it closed.
    with owner.begin() as connection:
        connection.execute(
            text("INSERT INTO billing_periods (tenant_id, month) VALUES (:t, '2026-05-01')"),
            {"t": world.acme},
        )
    with owner.begin() as closer:
        closer.execute(
            text("SELECT 1 FROM billing_periods WHERE tenant_id = :t AND month = '2026-05-01' FOR UPDATE"),
            {"t": world.acme},
        )
        logging = asyncio.create_task(
            worklog.log_work(
                db, alice, incident_id=incident.id, minutes=5, worked_at=datetime(2026, 5, 4, 9, tzinfo=UTC)
            )
        )
        await eventually_async(lambda: _waiting_on_a_lock(owner) > 0, "the change to wait for the closing")
        closer.execute(
            text(
                "UPDATE billing_periods SET closed_at = now(), closed_by = 'mona' WHERE tenant_id = :t AND month = '2026-05-01'"
            ),
            {"t": world.acme},
        )
    with pytest.raises(Refused) as refusal:
        await logging
    assert refusal.value.problems[0].code is ErrorCode.PERIOD_CLOSED
