"""A page of incidents with its relations costs the same number of SQL statements whatever its size.

Counted on the served app's own database for one real HTTP request. Through the executor every relation
(service, responders, tenant, timeline window and its count) must batch through a DataLoader, so a page
of 50 costs exactly what a page of 5 does; as a compiled read the page is one statement and its scope.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import pytest_asyncio

from domain.db import Database
from domain.settings import Settings
from domain.tenancy.roles import Role
from tests import factories as f

QUERY = """
query($first: Int!) {
  incidents(first: $first) {
    totalCount
    edges {
      node {
        number
        service { name }
        responders { subject role }
        tenant { slug }
        timeline(first: 3) { totalCount edges { node { kind } } }
      }
    }
  }
}
"""


@pytest.fixture(scope="module")
def settings(test_db: Any) -> Settings:
    # The executor's batching is measured here (compiled reads are measured on an app of their own);
    # background work is put to sleep, though it would not be counted.
    return f.settings_for(
        test_db,
        compiled_reads=False,
        auto_close_interval_seconds=0,
        sla_scanner_max_sleep_seconds=0,
        webhook_poll_seconds=3600,
        bulletin_phase_tick_seconds=3600,
    )


@pytest_asyncio.fixture(scope="module")
async def token(test_db: Any, db: Database, settings: Settings) -> str:
    acme = await f.create_tenant(db, "acme")
    await f.add_member(db, acme.id, "mona", Role.MANAGER)
    mona = f.actor("mona", {acme.id: Role.MANAGER})
    services = [(await f.create_service(db, mona, acme.id, name)).id for name in ("Email", "VPN", "Portal")]
    incidents = [
        await f.report(db, mona, acme.id, f"Incident {i}", "", service_id=services[i % 3]) for i in range(50)
    ]
    engine = f.owner_engine(test_db)
    try:
        for n, incident in enumerate(incidents):
            params = {"t": acme.id, "i": incident.id}
            f.owner_sql(
                engine,
                "INSERT INTO responders (tenant_id, incident_id, subject, role, added_at) VALUES"
                " (:t, :i, 'rita', 'TECHNICAL_LEAD', now()), (:t, :i, 'sam', 'SCRIBE', now())",
                params,
            )
            f.owner_sql(
                engine,
                "INSERT INTO incident_events (tenant_id, id, incident_id, seq, kind, visibility, data, at)"
                " SELECT :t, gen_random_uuid(), :i, :base + g, 'COMMENTED', 'PUBLIC', '{}', now()"
                " FROM generate_series(1, 4) g",
                {**params, "base": 100_000 + n * 10},
            )
    finally:
        engine.dispose()
    return await f.mint_token(settings, db, "mona")


Counter = f.StatementCounter


@pytest.fixture(scope="module")
def counted(live: f.LiveApp) -> Iterator[Counter]:
    with f.counting_statements(live) as counter:
        yield counter


def measure(live: f.LiveApp, counter: Counter, token: str, first: int) -> tuple[int, dict[str, Any]]:
    counter.statements.clear()
    data = live.gql_ok(token, QUERY, {"first": first})
    return len(counter.statements), data


def test_a_page_of_50_costs_what_a_page_of_5_costs(live: f.LiveApp, counted: Counter, token: str) -> None:
    measure(live, counted, token, 5)  # warm-up: signing keys, first connections
    small, small_data = measure(live, counted, token, 5)
    small_statements = list(counted.statements)
    large, large_data = measure(live, counted, token, 50)
    large_statements = list(counted.statements)
    again, _ = measure(live, counted, token, 5)

    edges = large_data["incidents"]["edges"]
    assert len(small_data["incidents"]["edges"]) == 5
    assert len(edges) == 50
    # The page really carries every relation, so nothing was skipped to look cheap.
    assert all(e["node"]["service"]["name"] in ("Email", "VPN", "Portal") for e in edges)
    assert all(len(e["node"]["responders"]) == 2 for e in edges)
    assert all(e["node"]["tenant"]["slug"] == "acme" for e in edges)
    assert all(e["node"]["timeline"]["totalCount"] == 5 for e in edges)
    assert all(len(e["node"]["timeline"]["edges"]) == 3 for e in edges)

    assert small == again, "the count is not deterministic: background work reached the engine"
    assert large == small, "\n".join(["page of 50:", *large_statements, "", "page of 5:", *small_statements])
    # And the constant is small: principal, page, count, one batch per relation, and their scope settings.
    assert small <= 20, "\n".join(small_statements)


NODES = """
query($ids: [ID!]!) {
  nodes(ids: $ids) {
    id
    ... on Incident { number service { name } }
    ... on Service { name }
  }
}
"""


def test_nodes_batch_whatever_how_many_ids(live: f.LiveApp, counted: Counter, token: str) -> None:
    page = live.gql_ok(token, "{ incidents(first: 50) { edges { node { id service { id } } } } }")
    incident_ids = [e["node"]["id"] for e in page["incidents"]["edges"]]
    service_ids = sorted({e["node"]["service"]["id"] for e in page["incidents"]["edges"]})

    def cost(ids: list[str]) -> int:
        counted.statements.clear()
        found = live.gql_ok(token, NODES, {"ids": ids})["nodes"]
        assert [node["id"] for node in found] == ids
        return len(counted.statements)

    cost(incident_ids[:2] + service_ids[:1])  # warm-up
    few = cost(incident_ids[:5] + service_ids[:1])
    many = cost(incident_ids + service_ids)
    assert many == few


@pytest.fixture(scope="module")
def compiled(test_db: Any, settings: Settings, token: str) -> Iterator[f.LiveApp]:
    with f.app_server(test_db, settings.model_copy(update={"compiled_reads": True})) as served:
        yield served


def test_a_compiled_page_is_one_statement_whatever_its_size(compiled: f.LiveApp, token: str) -> None:
    """One data statement; the scope is set on a pooled connection only when it held another."""
    with f.counting_statements(compiled) as counted:
        measure(compiled, counted, token, 5)  # warm-up: signing keys, first connections, compilation
        for size in (5, 50, 5, 50):
            _, data = measure(compiled, counted, token, size)
            assert len(data["incidents"]["edges"]) == size
            scope = [s for s in counted.statements if s.startswith("SELECT set_config('app.tenant_ids'")]
            data_statements = [s for s in counted.statements if s not in scope]
            assert len(data_statements) == 1 and len(scope) <= 1, counted.statements


def test_an_authenticated_typename_touches_no_database(compiled: f.LiveApp, token: str) -> None:
    """The floor of every request: a known token, a known tenant slug and a prepared document cost no
    statement at all."""
    with f.counting_statements(compiled) as counted:
        for attempt in range(3):
            counted.statements.clear()
            data = compiled.gql_ok(token, "{ __typename }", headers={"x-tenant": "acme"})
            assert data == {"__typename": "Query"}
            if attempt:  # the first one looks the token's principal and the slug up
                assert counted.statements == []
