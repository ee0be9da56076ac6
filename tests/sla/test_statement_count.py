"""Both SLA clocks for a page of 100 incidents add a fixed number of SQL statements.

Counted on the served app's own engine (``before_cursor_execute``) for one real HTTP request. The clocks
come from one batch: the contracts of the page's tenants and the ledgers of its incidents, each in one
statement (plus the read transaction's scope setting), whatever the page size.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio

from domain.db import Database
from domain.incidents import handling
from domain.incidents import service as incidents
from domain.incidents.enums import HoldReason, Impact, ResolutionCode, Urgency
from domain.settings import Settings
from domain.tenancy.roles import Role
from tests import factories as f
from tests.sla.support import create_contract

PAGE = """
query($first: Int!) {
  incidents(first: $first) { edges { node { number %s } } }
}
"""
CLOCKS = (
    "responseSla { state elapsedMinutes remainingMinutes dueAt atRisk breached }"
    " resolutionSla { state elapsedMinutes remainingMinutes dueAt atRisk breached }"
)
# The contracts and the ledgers: the clocks read in the request's one read transaction.
SLA_STATEMENTS = 2


@pytest.fixture(scope="module")
def settings(test_db: Any) -> Settings:
    # Background work is put to sleep (it would not be counted, but need not run). The executor's batching
    # is what is measured: without the clocks the page would be a compiled read of one statement.
    return f.settings_for(
        test_db,
        compiled_reads=False,
        auto_close_interval_seconds=0,
        sla_scanner_max_sleep_seconds=0,
        webhook_poll_seconds=3600,
        bulletin_phase_tick_seconds=3600,
    )


@pytest_asyncio.fixture(scope="module")
async def token(db: Database, settings: Settings) -> str:
    acme = await f.create_tenant(db, "acme")
    await f.add_member(db, acme.id, "mona", Role.MANAGER)
    mona = f.actor("mona", {acme.id: Role.MANAGER})
    await create_contract(
        db,
        mona,
        acme.id,
        effective_from=datetime(2020, 1, 1, tzinfo=UTC),
        timezone="Europe/Berlin",
        hours=[(day, "08:00", "12:00") for day in range(1, 6)]
        + [(day, "13:00", "18:00") for day in range(1, 6)],
        holidays=["2026-12-24", "2026-12-25", "2026-12-26"],
    )
    for i in range(100):
        incident = await f.report(db, mona, acme.id, f"Incident {i}", impact=Impact.HIGH, urgency=Urgency.LOW)
        if i % 2 or i % 3 == 0:
            await incidents.acknowledge_incident(db, mona, incident_id=incident.id, expected_version=None)
        if i % 3 == 0:
            await handling.put_incident_on_hold(
                db,
                mona,
                incident_id=incident.id,
                expected_version=None,
                reason=HoldReason.AWAITING_CUSTOMER,
                note=None,
            )
        if i % 5 == 0:
            await handling.resolve_incident(
                db,
                mona,
                incident_id=incident.id,
                expected_version=None,
                code=ResolutionCode.FIXED,
                notes="done",
            )
    return await f.mint_token(settings, db, "mona")


Counter = f.StatementCounter


@pytest.fixture(scope="module")
def counted(live: f.LiveApp) -> Iterator[Counter]:
    with f.counting_statements(live) as counter:
        yield counter


@pytest.fixture(scope="module")
def live(test_db: Any, settings: Settings, token: str) -> Iterator[f.LiveApp]:
    with f.app_server(test_db, settings) as served:
        yield served


def measure(
    live: f.LiveApp, counter: Counter, token: str, first: int, fields: str
) -> tuple[int, dict[str, Any]]:
    counter.statements.clear()
    data = live.gql_ok(token, PAGE % fields, {"first": first})
    return len(counter.statements), data


def test_clocks_for_100_incidents_add_a_fixed_number_of_statements(
    live: f.LiveApp, counted: Counter, token: str
) -> None:
    measure(live, counted, token, 10, CLOCKS)  # warm-up: signing keys, first connections
    plain_10, _ = measure(live, counted, token, 10, "")
    with_10, _ = measure(live, counted, token, 10, CLOCKS)
    plain_100, _ = measure(live, counted, token, 100, "")
    with_100, data = measure(live, counted, token, 100, CLOCKS)
    sla_statements = list(counted.statements)

    edges = data["incidents"]["edges"]
    assert len(edges) == 100
    # Every clock was really computed: the page is not cheap because it is empty.
    assert all(e["node"]["responseSla"] is not None and e["node"]["resolutionSla"] is not None for e in edges)
    states = {e["node"]["resolutionSla"]["state"] for e in edges}
    assert {"MET", "PAUSED"} <= states and states & {"RUNNING", "BREACHED"}

    assert with_100 - plain_100 == SLA_STATEMENTS, "\n".join(sla_statements)
    assert with_10 - plain_10 == SLA_STATEMENTS
