"""Reading incidents over HTTP: every filter, every order, Relay pagination both ways, lookups, nodes.

Thirty incidents across two tenants are reported through the domain's use cases; the states a use case
cannot reach yet (statuses, major, a breached SLA, backdated times) are then set over the owner connection.
Every answer is compared with the expectation computed in Python from the same seed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio

from domain.db import Database
from domain.incidents import service as incident_service
from domain.incidents.enums import Impact, IncidentStatus, Priority, Urgency
from domain.incidents.lifecycle import priority_for
from domain.settings import Settings
from domain.tenancy.roles import Role
from tests import factories as f

BASE = datetime(2026, 3, 1, tzinfo=UTC)
STATUSES = list(IncidentStatus)


@dataclass
class Seeded:
    id: uuid.UUID
    gid: str
    tenant: str
    tenant_id: uuid.UUID
    number: int
    title: str
    description: str
    priority: Priority
    service: str | None
    assignee: str | None
    status: IncidentStatus
    major: bool
    breached: bool
    reported_at: datetime
    updated_at: datetime


@dataclass
class World:
    incidents: list[Seeded]
    tenants: dict[str, uuid.UUID]
    services: dict[str, uuid.UUID]
    tokens: dict[str, str]
    event_id: uuid.UUID

    def of(self, tenant: str) -> list[Seeded]:
        return [i for i in self.incidents if i.tenant == tenant]


WORDS = ["mail", "vpn", "printer", "login", "payroll"]


@pytest_asyncio.fixture(scope="module")
async def world(test_db: Any, db: Database, settings: Settings) -> World:
    acme = await f.create_tenant(db, "acme", timezone="Europe/Berlin")
    globex = await f.create_tenant(db, "globex", timezone="America/New_York")
    tenants = {"acme": acme.id, "globex": globex.id}
    await f.add_member(db, acme.id, "alice", Role.AGENT)
    await f.add_member(db, globex.id, "alice", Role.AGENT)
    await f.add_member(db, acme.id, "mona", Role.MANAGER)
    await f.add_member(db, globex.id, "mona", Role.MANAGER)
    await f.add_member(db, acme.id, "carol", Role.CUSTOMER)
    await f.add_member(db, globex.id, "gus", Role.CUSTOMER)
    alice = f.actor("alice", {acme.id: Role.AGENT, globex.id: Role.AGENT})
    mona = f.actor("mona", {acme.id: Role.MANAGER, globex.id: Role.MANAGER})
    reporters = {
        "acme": f.actor("carol", {acme.id: Role.CUSTOMER}),
        "globex": f.actor("gus", {globex.id: Role.CUSTOMER}),
    }
    services = {
        "email": (await f.create_service(db, mona, acme.id, "Email")).id,
        "vpn": (await f.create_service(db, mona, acme.id, "VPN")).id,
        "portal": (await f.create_service(db, mona, globex.id, "Portal")).id,
    }
    service_choices = {"acme": ["email", "vpn", None], "globex": ["portal", None, None]}

    seeded: list[Seeded] = []
    for i in range(30):
        tenant = "globex" if i % 3 == 2 else "acme"
        impact = list(Impact)[i % 3]
        urgency = list(Urgency)[(i // 3) % 3]
        service = service_choices[tenant][(i // 2) % 3]
        word = WORDS[i % len(WORDS)]
        # Half carry the word in the title, half only in the description.
        title = f"{word.title()} trouble {i}" if i % 2 else f"Trouble number {i}"
        description = f"reported case {i}" if i % 2 else f"the {word} system misbehaves"
        row = await f.report(
            db,
            reporters[tenant],
            tenants[tenant],
            title,
            description,
            service_id=services[service] if service else None,
            impact=impact,
            urgency=urgency,
        )
        assignee = ["bob", None, "dora", None][(i // 2) % 4]
        if assignee:
            await incident_service.assign_incident(
                db, alice, incident_id=row.id, expected_version=None, assignee=assignee, assignment_group=None
            )
        seeded.append(
            Seeded(
                id=row.id,
                gid=f.encode_id("Incident", row.id),
                tenant=tenant,
                tenant_id=tenants[tenant],
                number=row.number,
                title=title,
                description=description,
                priority=priority_for(impact, urgency),
                service=service,
                assignee=assignee,
                status=STATUSES[(i * 5) % 6],
                major=i % 4 == 1,
                breached=i % 5 == 3,
                # Ties on purpose: each reported time is shared by two incidents, so the id breaks them.
                reported_at=BASE + timedelta(hours=(i * 7) % 15),
                updated_at=BASE + timedelta(days=3, minutes=(i * 11) % 30),
            )
        )
    engine = f.owner_engine(test_db)
    try:
        for s in seeded:
            f.owner_sql(
                engine,
                "UPDATE incidents SET status = :status, major = :major, sla_breached = :breached,"
                " reported_at = :reported, updated_at = :updated WHERE tenant_id = :t AND id = :id",
                {
                    "status": s.status.value,
                    "major": s.major,
                    "breached": s.breached,
                    "reported": s.reported_at,
                    "updated": s.updated_at,
                    "t": s.tenant_id,
                    "id": s.id,
                },
            )
        event_id = f.owner_sql(
            engine,
            "SELECT id FROM incident_events WHERE tenant_id = :t AND incident_id = :i AND kind = 'CREATED'",
            {"t": seeded[0].tenant_id, "i": seeded[0].id},
        )[0][0]
    finally:
        engine.dispose()
    tokens = await f.mint_tokens(settings, db, "alice", "carol", "gus", "mona", "nobody")
    return World(incidents=seeded, tenants=tenants, services=services, tokens=tokens, event_id=event_id)


PAGE = """
query($first: Int, $after: String, $last: Int, $before: String, $filter: IncidentFilter,
      $order: IncidentOrder) {
  incidents(first: $first, after: $after, last: $last, before: $before, filter: $filter, orderBy: $order) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id number } }
  }
}
"""


def page(live: f.LiveApp, token: str, **variables: Any) -> dict[str, Any]:
    data = live.gql_ok(token, PAGE, variables)
    result: dict[str, Any] = data["incidents"]
    return result


def ids(connection: dict[str, Any]) -> list[str]:
    return [edge["node"]["id"] for edge in connection["edges"]]


def listed(live: f.LiveApp, token: str, spec: dict[str, Any]) -> set[str]:
    connection = page(live, token, first=100, filter=spec)
    assert connection["totalCount"] == len(connection["edges"])
    return set(ids(connection))


def expect(world: World, keep: Callable[[Seeded], bool]) -> set[str]:
    chosen = {s.gid for s in world.incidents if keep(s)}
    # A filter test proves nothing if it keeps everything or nothing.
    assert 0 < len(chosen) < len(world.incidents)
    return chosen


# ---------------------------------------------------------------- filters


def test_an_agent_of_two_tenants_sees_both(live: f.LiveApp, world: World) -> None:
    assert listed(live, world.tokens["alice"], {}) == {s.gid for s in world.incidents}


def test_a_customer_sees_only_her_tenant(live: f.LiveApp, world: World) -> None:
    assert listed(live, world.tokens["carol"], {}) == {s.gid for s in world.of("acme")}


def test_someone_without_membership_sees_nothing(live: f.LiveApp, world: World) -> None:
    assert listed(live, world.tokens["nobody"], {}) == set()


@pytest.mark.parametrize("by", ["slug", "global id"])
def test_filter_tenant(live: f.LiveApp, world: World, by: str) -> None:
    for slug in ("acme", "globex"):
        value = slug if by == "slug" else f.encode_id("Tenant", world.tenants[slug])
        assert listed(live, world.tokens["alice"], {"tenant": value}) == expect(
            world, lambda s, t=slug: s.tenant == t
        )


def test_filter_tenant_outside_the_callers_tenants_is_empty(live: f.LiveApp, world: World) -> None:
    carol = world.tokens["carol"]
    assert listed(live, carol, {"tenant": "globex"}) == set()
    assert listed(live, carol, {"tenant": f.encode_id("Tenant", world.tenants["globex"])}) == set()
    assert listed(live, carol, {"tenant": "no-such-tenant"}) == set()


def test_filter_status(live: f.LiveApp, world: World) -> None:
    wanted = [IncidentStatus.NEW, IncidentStatus.ON_HOLD]
    spec = {"status": [s.value for s in wanted]}
    assert listed(live, world.tokens["alice"], spec) == expect(world, lambda s: s.status in wanted)


def test_filter_priority(live: f.LiveApp, world: World) -> None:
    wanted = [Priority.P1, Priority.P2]
    spec = {"priority": [p.value for p in wanted]}
    assert listed(live, world.tokens["alice"], spec) == expect(world, lambda s: s.priority in wanted)


def test_filter_service(live: f.LiveApp, world: World) -> None:
    spec = {"serviceId": f.encode_id("Service", world.services["vpn"])}
    assert listed(live, world.tokens["alice"], spec) == expect(world, lambda s: s.service == "vpn")


def test_filter_service_with_a_malformed_id_matches_nothing(live: f.LiveApp, world: World) -> None:
    assert listed(live, world.tokens["alice"], {"serviceId": "not-an-id"}) == set()


@pytest.mark.parametrize("major", [True, False])
def test_filter_major(live: f.LiveApp, world: World, major: bool) -> None:
    assert listed(live, world.tokens["alice"], {"major": major}) == expect(world, lambda s: s.major is major)


def test_filter_assignee(live: f.LiveApp, world: World) -> None:
    assert listed(live, world.tokens["alice"], {"assignee": "dora"}) == expect(
        world, lambda s: s.assignee == "dora"
    )


@pytest.mark.parametrize("breached", [True, False])
def test_filter_sla_breached(live: f.LiveApp, world: World, breached: bool) -> None:
    spec = {"slaBreached": breached}
    assert listed(live, world.tokens["alice"], spec) == expect(world, lambda s: s.breached is breached)


@pytest.mark.parametrize("words", ["printer", "PRINTER", "  vpn  ", "misbehaves mail"])
def test_filter_search_in_title_or_description(live: f.LiveApp, world: World, words: str) -> None:
    wanted = words.lower().split()

    def matches(s: Seeded) -> bool:
        text = f"{s.title} {s.description}".lower().split()
        return all(w in text for w in wanted)

    found = listed(live, world.tokens["alice"], {"search": words})
    assert found == expect(world, matches)
    # Both places are searched: the matches include title-only and description-only hits.
    if len(wanted) == 1:
        hits = [s for s in world.incidents if s.gid in found]
        assert any(wanted[0] in s.title.lower() for s in hits)
        assert any(wanted[0] in s.description.lower() for s in hits)


def test_filter_reported_window_with_offsets(live: f.LiveApp, world: World) -> None:
    # 05:30+02:00 is 03:30Z and 04:30-05:00 is 09:30Z: the window keeps 04:00Z..09:00Z.
    spec = {"reportedAfter": "2026-03-01T05:30:00+02:00", "reportedBefore": "2026-03-01T04:30:00-05:00"}
    low, high = BASE + timedelta(hours=3, minutes=30), BASE + timedelta(hours=9, minutes=30)
    assert listed(live, world.tokens["alice"], spec) == expect(world, lambda s: low < s.reported_at < high)


def test_filters_combine(live: f.LiveApp, world: World) -> None:
    spec = {"tenant": "acme", "major": False, "priority": ["P3", "P4", "P5"]}
    found = listed(live, world.tokens["alice"], spec)
    assert found == expect(
        world,
        lambda s: (
            s.tenant == "acme" and not s.major and s.priority in (Priority.P3, Priority.P4, Priority.P5)
        ),
    )


# ---------------------------------------------------------------- orders and pagination

ORDER_KEYS: dict[str, Callable[[Seeded], Any]] = {
    "REPORTED_AT": lambda s: s.reported_at,
    "UPDATED_AT": lambda s: s.updated_at,
    "PRIORITY": lambda s: s.priority.value,
    "NUMBER": lambda s: s.number,
}


def expected_order(world: World, field: str, direction: str) -> list[str]:
    key = ORDER_KEYS[field]
    rows = sorted(world.incidents, key=lambda s: (key(s), s.id), reverse=direction == "DESC")
    return [s.gid for s in rows]


def walk_forward(live: f.LiveApp, token: str, size: int, **variables: Any) -> list[str]:
    seen: list[str] = []
    after = None
    for step in range(100):
        connection = page(live, token, first=size, after=after, **variables)
        info = connection["pageInfo"]
        got = ids(connection)
        seen += got
        assert info["hasPreviousPage"] is (step > 0)
        if got:
            assert info["startCursor"] == connection["edges"][0]["cursor"]
            assert info["endCursor"] == connection["edges"][-1]["cursor"]
        if not info["hasNextPage"]:
            return seen
        assert len(got) == size
        after = info["endCursor"]
    pytest.fail("pagination did not end")


def walk_backward(live: f.LiveApp, token: str, size: int, **variables: Any) -> list[str]:
    seen: list[str] = []
    before = None
    for step in range(100):
        connection = page(live, token, last=size, before=before, **variables)
        info = connection["pageInfo"]
        got = ids(connection)
        seen = got + seen
        assert info["hasNextPage"] is (step > 0)
        if not info["hasPreviousPage"]:
            return seen
        assert len(got) == size
        before = info["startCursor"]
    pytest.fail("pagination did not end")


@pytest.mark.parametrize("direction", ["ASC", "DESC"])
@pytest.mark.parametrize("field", list(ORDER_KEYS))
def test_orders_forwards_and_backwards(live: f.LiveApp, world: World, field: str, direction: str) -> None:
    token = world.tokens["alice"]
    order = {"field": field, "direction": direction}
    expected = expected_order(world, field, direction)
    forwards = walk_forward(live, token, 7, order=order)
    assert forwards == expected, "forward walk out of order, with a gap or a duplicate"
    backwards = walk_backward(live, token, 7, order=order)
    assert backwards == expected, "backward walk out of order, with a gap or a duplicate"
    assert page(live, token, first=1, order=order)["totalCount"] == len(expected)


def test_the_default_order_is_newest_reported_first(live: f.LiveApp, world: World) -> None:
    connection = page(live, world.tokens["alice"], first=30)
    assert ids(connection) == expected_order(world, "REPORTED_AT", "DESC")


def test_pagination_keeps_the_filter(live: f.LiveApp, world: World) -> None:
    token = world.tokens["alice"]
    spec = {"tenant": "acme"}
    order = {"field": "NUMBER", "direction": "ASC"}
    forwards = walk_forward(live, token, 6, filter=spec, order=order)
    assert forwards == [s.gid for s in sorted(world.of("acme"), key=lambda s: s.number)]
    assert page(live, token, first=6, filter=spec)["totalCount"] == len(world.of("acme"))


def test_page_info_at_both_ends(live: f.LiveApp, world: World) -> None:
    token = world.tokens["alice"]
    everything = page(live, token, first=100)
    assert everything["pageInfo"]["hasNextPage"] is False
    assert everything["pageInfo"]["hasPreviousPage"] is False
    assert everything["totalCount"] == 30
    first = page(live, token, first=5)
    assert first["pageInfo"]["hasNextPage"] is True
    assert first["pageInfo"]["hasPreviousPage"] is False
    assert first["totalCount"] == 30
    last = page(live, token, last=5)
    assert last["pageInfo"]["hasPreviousPage"] is True
    assert last["pageInfo"]["hasNextPage"] is False
    assert ids(last) == ids(everything)[-5:]
    empty = page(live, token, first=0)
    assert empty["edges"] == []
    assert empty["totalCount"] == 30


def test_a_window_between_two_cursors(live: f.LiveApp, world: World) -> None:
    token = world.tokens["alice"]
    everything = page(live, token, first=100)
    cursors = [e["cursor"] for e in everything["edges"]]
    window = page(live, token, first=100, after=cursors[4], before=cursors[12])
    assert ids(window) == ids(everything)[5:12]


def _error(live: f.LiveApp, token: str, **variables: Any) -> dict[str, Any]:
    body = live.gql(token, PAGE, variables)
    assert body.get("data") is None or body["data"].get("incidents") is None
    assert body["errors"], body
    error: dict[str, Any] = body["errors"][0]
    return error


def test_first_and_last_together_are_refused(live: f.LiveApp, world: World) -> None:
    error = _error(live, world.tokens["alice"], first=5, last=5)
    assert "first" in error["message"] and "last" in error["message"]
    assert error["message"] != "Internal server error"


@pytest.mark.parametrize("variables", [{"first": 101}, {"last": 101}, {"first": -1}])
def test_page_sizes_outside_0_to_100_are_refused(
    live: f.LiveApp, world: World, variables: dict[str, int]
) -> None:
    error = _error(live, world.tokens["alice"], **variables)
    assert error["extensions"]["code"] == "LIMIT_EXCEEDED"


def test_a_garbled_cursor_is_refused_as_a_client_error(live: f.LiveApp, world: World) -> None:
    error = _error(live, world.tokens["alice"], first=5, after="garbage!!")
    assert error["message"] != "Internal server error"


# ---------------------------------------------------------------- lookups

BY_NUMBER = """
query($tenant: ID, $number: String!) { incidentByNumber(tenant: $tenant, number: $number) { id number title } }
"""


@pytest.mark.parametrize("number", ["INC-000003", "3", "inc-3", " 0003 "])
def test_incident_by_number(live: f.LiveApp, world: World, number: str) -> None:
    wanted = next(s for s in world.of("acme") if s.number == 3)
    data = live.gql_ok(world.tokens["alice"], BY_NUMBER, {"tenant": "acme", "number": number})
    assert data["incidentByNumber"] == {"id": wanted.gid, "number": "INC-000003", "title": wanted.title}


def test_incident_by_number_by_tenant_global_id(live: f.LiveApp, world: World) -> None:
    wanted = next(s for s in world.of("globex") if s.number == 3)
    tenant = f.encode_id("Tenant", world.tenants["globex"])
    data = live.gql_ok(world.tokens["alice"], BY_NUMBER, {"tenant": tenant, "number": "INC-000003"})
    assert data["incidentByNumber"]["id"] == wanted.gid


def test_incident_by_number_needs_no_tenant_for_a_single_tenant_caller(live: f.LiveApp, world: World) -> None:
    wanted = next(s for s in world.of("acme") if s.number == 7)
    data = live.gql_ok(world.tokens["carol"], BY_NUMBER, {"number": "INC-000007"})
    assert data["incidentByNumber"]["id"] == wanted.gid


@pytest.mark.parametrize("number", ["INC-000999", "INC-", "abc", "INC-00000X"])
def test_incident_by_number_absent_is_null(live: f.LiveApp, world: World, number: str) -> None:
    data = live.gql_ok(world.tokens["alice"], BY_NUMBER, {"tenant": "acme", "number": number})
    assert data["incidentByNumber"] is None


NODE = """
query($id: ID!) {
  node(id: $id) {
    __typename id
    ... on Tenant { slug }
    ... on Service { name }
    ... on Incident { number }
    ... on IncidentEvent { kind }
  }
}
"""


def test_node_for_each_type(live: f.LiveApp, world: World) -> None:
    token = world.tokens["alice"]
    first = world.incidents[0]
    cases = {
        f.encode_id("Tenant", world.tenants["globex"]): ("Tenant", "slug", "globex"),
        f.encode_id("Service", world.services["vpn"]): ("Service", "name", "VPN"),
        first.gid: ("Incident", "number", f"INC-{first.number:06d}"),
        f.encode_id("IncidentEvent", world.event_id): ("IncidentEvent", "kind", "CREATED"),
    }
    for gid, (type_name, field, value) in cases.items():
        node = live.gql_ok(token, NODE, {"id": gid})["node"]
        assert node is not None, type_name
        assert (node["__typename"], node["id"], node[field]) == (type_name, gid, value)


def test_nodes_keeps_order_and_answers_null_for_what_is_not_there(live: f.LiveApp, world: World) -> None:
    acme_incident = world.of("acme")[0]
    globex_incident = world.of("globex")[0]
    requested = [
        globex_incident.gid,
        f.encode_id("Incident", uuid.uuid4()),
        acme_incident.gid,
        "garbage",
        f.encode_id("Service", world.services["email"]),
        f.encode_id("Service", world.services["portal"]),
        f.encode_id("Tenant", world.tenants["acme"]),
        f.encode_id("Tenant", world.tenants["globex"]),
    ]
    query = "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }"
    # carol is a customer of acme only: globex's incident, service and tenant are as absent as a random id.
    got = live.gql_ok(world.tokens["carol"], query, {"ids": requested})["nodes"]
    assert got == [
        None,
        None,
        {"__typename": "Incident", "id": acme_incident.gid},
        None,
        {"__typename": "Service", "id": requested[4]},
        None,
        {"__typename": "Tenant", "id": requested[6]},
        None,
    ]


# ---------------------------------------------------------------- the X-Tenant header


@pytest.mark.parametrize("by", ["slug", "global id"])
def test_x_tenant_narrows_the_scope(live: f.LiveApp, world: World, by: str) -> None:
    value = "globex" if by == "slug" else f.encode_id("Tenant", world.tenants["globex"])
    data = live.gql_ok(
        world.tokens["alice"],
        "{ incidents(first: 100) { totalCount edges { node { id } } } tenants { edges { node { slug } } } }",
        headers={"X-Tenant": value},
    )
    assert {e["node"]["id"] for e in data["incidents"]["edges"]} == {s.gid for s in world.of("globex")}
    assert data["incidents"]["totalCount"] == len(world.of("globex"))
    assert [e["node"]["slug"] for e in data["tenants"]["edges"]] == ["globex"]
    # Narrowed to globex, acme's incidents are out of reach by id too.
    node = live.gql_ok(
        world.tokens["alice"], NODE, {"id": world.of("acme")[0].gid}, headers={"X-Tenant": value}
    )
    assert node["node"] is None


def test_x_tenant_narrows_writes_too(live: f.LiveApp, world: World) -> None:
    # Narrowed to globex, alice cannot act on an acme incident either: it answers like an absent one.
    comment = 'mutation($id: ID!) { addComment(input: {id: $id, body: "hello"}) { event { id } userErrors { code } } }'
    acme_incident = {"id": world.of("acme")[0].gid}
    narrowed = live.gql_ok(world.tokens["alice"], comment, acme_incident, headers={"X-Tenant": "globex"})
    assert narrowed["addComment"] == {"event": None, "userErrors": [{"code": "NOT_FOUND"}]}
    viewer = live.gql_ok(
        world.tokens["alice"],
        "{ viewer { memberships { tenant { slug } } } }",
        headers={"X-Tenant": "globex"},
    )
    assert [m["tenant"]["slug"] for m in viewer["viewer"]["memberships"]] == ["globex"]


def test_x_tenant_cannot_widen_the_scope(live: f.LiveApp, world: World) -> None:
    data = live.gql_ok(
        world.tokens["carol"], "{ incidents(first: 100) { totalCount } }", headers={"X-Tenant": "globex"}
    )
    assert data["incidents"]["totalCount"] == 0


def test_a_cursor_of_another_order_is_a_client_error(live: f.LiveApp, world: World) -> None:
    token = world.tokens["alice"]
    by_number = page(live, token, first=2, order={"field": "NUMBER", "direction": "ASC"})
    cursor = by_number["pageInfo"]["endCursor"]
    for field in ("REPORTED_AT", "PRIORITY"):
        error = _error(live, token, first=2, after=cursor, order={"field": field, "direction": "ASC"})
        assert error["message"] != "Internal server error"


# ---------------------------------------------------------------- children


@pytest.fixture(scope="module")
def family(test_db: Any, world: World) -> tuple[Seeded, list[Seeded]]:
    """Acme's incident 1 as the parent of six acme incidents and one globex incident (as affectTenants
    links them), linked over the owner connection."""
    acme = sorted(world.of("acme"), key=lambda s: s.number)
    parent, children = acme[0], [*acme[1:7], world.of("globex")[0]]
    engine = f.owner_engine(test_db)
    try:
        for child in children:
            f.owner_sql(
                engine,
                "INSERT INTO incident_links (tenant_id, child_id, parent_tenant_id, parent_id, linked_at)"
                " VALUES (:t, :c, :pt, :p, now())",
                {"t": child.tenant_id, "c": child.id, "pt": parent.tenant_id, "p": parent.id},
            )
    finally:
        engine.dispose()
    return parent, children


CHILDREN = """
query($id: ID!, $after: String) {
  node(id: $id) {
    ... on Incident {
      children(first: 3, after: $after) {
        totalCount pageInfo { hasNextPage endCursor } edges { node { id parent { id } } }
      }
    }
  }
}
"""


@pytest.mark.parametrize("who", ["alice", "carol"])
def test_children_page_through_in_reported_order(
    live: f.LiveApp, world: World, family: tuple[Seeded, list[Seeded]], who: str
) -> None:
    parent, children = family
    visible = [c for c in children if who == "alice" or c.tenant == "acme"]
    expected = [c.gid for c in sorted(visible, key=lambda c: (c.reported_at, c.id))]
    seen: list[str] = []
    after = None
    for _ in range(10):
        connection = live.gql_ok(world.tokens[who], CHILDREN, {"id": parent.gid, "after": after})["node"][
            "children"
        ]
        assert connection["totalCount"] == len(visible)
        seen += [e["node"]["id"] for e in connection["edges"]]
        assert all(e["node"]["parent"] == {"id": parent.gid} for e in connection["edges"])
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert seen == expected


def test_a_forged_cursor_with_a_huge_number_is_a_client_error(live: f.LiveApp, world: World) -> None:
    from api.relay import encode_cursor

    token = world.tokens["alice"]
    huge = 10**20
    error = _error(
        live,
        token,
        first=2,
        after=encode_cursor([huge, str(uuid.uuid4())]),
        order={"field": "NUMBER", "direction": "ASC"},
    )
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    timeline = live.gql(
        token,
        "query($id: ID!, $after: String) { node(id: $id) { ... on Incident { timeline(first: 2, after: $after) { totalCount } } } }",
        {"id": world.of("acme")[0].gid, "after": encode_cursor([huge])},
    )
    assert timeline["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
