"""Bulletins over the real API: create, publish, update, list; service status; the public status; refusals."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio

from auth import Principal
from domain.db import Database
from domain.settings import Settings
from domain.tenancy.roles import Role
from tests import factories as f
from tests.conftest import TestDatabase
from tests.waiting import eventually


@dataclass
class World:
    acme: uuid.UUID
    globex: uuid.UUID
    hidden: uuid.UUID  # a tenant nobody here belongs to
    manager: Principal  # MANAGER of acme and globex, for seeding services
    tokens: dict[str, str]  # alice: AGENT of acme and globex; carol: CUSTOMER of acme; gina: AGENT of globex


@pytest.fixture(scope="module")
def settings(test_db: TestDatabase) -> Settings:
    return f.settings_for(test_db, bulletin_phase_tick_seconds=0.1)


@pytest_asyncio.fixture(scope="module")
async def world(settings: Settings, db: Database) -> World:
    acme = await f.create_tenant(db, "acme", name="Acme Corp", public_status_page=True)
    globex = await f.create_tenant(db, "globex")
    hidden = await f.create_tenant(db, "hidden", public_status_page=True)
    await f.add_member(db, acme.id, "alice", Role.AGENT)
    await f.add_member(db, globex.id, "alice", Role.AGENT)
    await f.add_member(db, acme.id, "carol", Role.CUSTOMER)
    await f.add_member(db, globex.id, "gina", Role.AGENT)
    manager = f.actor("mary", {acme.id: Role.MANAGER, globex.id: Role.MANAGER, hidden.id: Role.MANAGER})
    tokens = await f.mint_tokens(settings, db, "alice", "carol", "gina")
    return World(acme.id, globex.id, hidden.id, manager, tokens)


@pytest.fixture(scope="module")
def live(test_db: TestDatabase, settings: Settings, world: World) -> Iterator[f.LiveApp]:
    with f.app_server(test_db, settings) as live:
        yield live


@pytest_asyncio.fixture
async def make_service(db: Database, world: World) -> Any:
    async def make(tenant: uuid.UUID, name: str | None = None) -> str:
        row = await f.create_service(db, world.manager, tenant, name or f"svc-{uuid.uuid4().hex[:8]}")
        return f.encode_id("Service", row.id)

    return make


BULLETIN = """
  bulletins { id kind title phase published active broadcastId scheduledStart scheduledEnd publishedAt
    tenant { slug } incident { number }
    affectedServices { service { id name } status } updates { phase body author } }
  userErrors { field message code }
"""
CREATE = "mutation($input: CreateBulletinInput!) { createBulletin(input: $input) {" + BULLETIN + "} }"
PUBLISH = "mutation($input: BulletinRefInput!) { publishBulletin(input: $input) {" + BULLETIN + "} }"
UPDATE = "mutation($input: BulletinUpdateInput!) { postBulletinUpdate(input: $input) {" + BULLETIN + "} }"
STATUS = "query($id: ID!) { node(id: $id) { ... on Service { status } } }"


def create(live: f.LiveApp, token: str, **fields: Any) -> dict[str, Any]:
    payload = {
        "kind": "INCIDENT",
        "title": "Mail delayed",
        "body": "We are looking into it.",
        "phase": "INVESTIGATING",
    }
    payload.update(fields)
    data: dict[str, Any] = live.gql_ok(token, CREATE, {"input": payload})["createBulletin"]
    return data


def created(live: f.LiveApp, token: str, **fields: Any) -> list[dict[str, Any]]:
    data = create(live, token, **fields)
    assert data["userErrors"] == []
    bulletins: list[dict[str, Any]] = data["bulletins"]
    return bulletins


def status_of(live: f.LiveApp, token: str, service: str) -> str:
    status: str = live.gql_ok(token, STATUS, {"id": service})["node"]["status"]
    return status


def refusal(data: dict[str, Any]) -> tuple[str, list[str] | None]:
    assert data["bulletins"] == []
    [error] = data["userErrors"]
    return error["code"], error["field"]


def bulletin_count(test_db: TestDatabase) -> int:
    return int(f.owner_sql(test_db, "SELECT count(*) FROM bulletins")[0][0])


# ---------------------------------------------------------------- the life of a bulletin


async def test_a_draft_declares_nothing_and_customers_do_not_see_it(
    live: f.LiveApp, world: World, make_service: Any
) -> None:
    mail = await make_service(world.acme)
    [draft] = created(
        live,
        world.tokens["alice"],
        tenants=["acme"],
        affectedServices=[{"serviceId": mail, "status": "MAJOR_OUTAGE"}],
    )
    assert draft["published"] is False and draft["active"] is False and draft["publishedAt"] is None
    assert draft["updates"] == [
        {"phase": "INVESTIGATING", "body": "We are looking into it.", "author": "alice"}
    ]
    assert draft["affectedServices"][0]["status"] == "MAJOR_OUTAGE"
    assert status_of(live, world.tokens["alice"], mail) == "OPERATIONAL"
    listed = '{ bulletins(tenant: "acme") { edges { node { id } } } }'
    assert draft["id"] in [
        e["node"]["id"] for e in live.gql_ok(world.tokens["alice"], listed)["bulletins"]["edges"]
    ]
    assert draft["id"] not in [
        e["node"]["id"] for e in live.gql_ok(world.tokens["carol"], listed)["bulletins"]["edges"]
    ]
    assert live.gql_ok(
        world.tokens["carol"], "query($id: ID!) { node(id: $id) { id } }", {"id": draft["id"]}
    ) == {"node": None}


async def test_publishing_sets_the_worst_declared_status_and_resolving_clears_it(
    live: f.LiveApp, world: World, make_service: Any
) -> None:
    alice = world.tokens["alice"]
    web = await make_service(world.acme)
    [degraded] = created(
        live,
        alice,
        tenants=["acme"],
        publish=True,
        affectedServices=[{"serviceId": web, "status": "DEGRADED_PERFORMANCE"}],
    )
    assert degraded["published"] and degraded["active"] and degraded["publishedAt"]
    assert status_of(live, alice, web) == "DEGRADED_PERFORMANCE"
    [outage] = created(
        live, alice, tenants=["acme"], affectedServices=[{"serviceId": web, "status": "MAJOR_OUTAGE"}]
    )
    assert status_of(live, alice, web) == "DEGRADED_PERFORMANCE"  # still a draft
    [published] = live.gql_ok(alice, PUBLISH, {"input": {"id": outage["id"]}})["publishBulletin"]["bulletins"]
    assert published["published"] is True
    assert status_of(live, alice, web) == "MAJOR_OUTAGE"
    assert status_of(live, world.tokens["carol"], web) == "MAJOR_OUTAGE"
    done = live.gql_ok(alice, UPDATE, {"input": {"id": outage["id"], "phase": "RESOLVED", "body": "Fixed."}})
    assert done["postBulletinUpdate"]["bulletins"][0]["active"] is False
    assert status_of(live, alice, web) == "DEGRADED_PERFORMANCE"
    live.gql_ok(alice, UPDATE, {"input": {"id": degraded["id"], "phase": "RESOLVED", "body": "Fixed too."}})
    assert status_of(live, alice, web) == "OPERATIONAL"


async def test_updates_walk_the_phases_newest_first_and_may_replace_the_affected_services(
    live: f.LiveApp, world: World, make_service: Any
) -> None:
    alice = world.tokens["alice"]
    a, b = await make_service(world.acme), await make_service(world.acme)
    [bulletin] = created(
        live,
        alice,
        tenants=["acme"],
        publish=True,
        affectedServices=[{"serviceId": a, "status": "PARTIAL_OUTAGE"}],
    )
    step = live.gql_ok(
        alice, UPDATE, {"input": {"id": bulletin["id"], "phase": "IDENTIFIED", "body": "Found it."}}
    )
    step = live.gql_ok(
        alice,
        UPDATE,
        {
            "input": {
                "id": bulletin["id"],
                "phase": "MONITORING",
                "body": "Moved to b.",
                "affectedServices": [{"serviceId": b, "status": "DEGRADED_PERFORMANCE"}],
            }
        },
    )
    [row] = step["postBulletinUpdate"]["bulletins"]
    assert row["phase"] == "MONITORING"
    assert [u["phase"] for u in row["updates"]] == ["MONITORING", "IDENTIFIED", "INVESTIGATING"]
    assert [s["service"]["id"] for s in row["affectedServices"]] == [b]
    assert (status_of(live, alice, a), status_of(live, alice, b)) == ("OPERATIONAL", "DEGRADED_PERFORMANCE")


async def test_a_provider_wide_bulletin_is_one_row_per_tenant_and_moves_as_one(
    live: f.LiveApp, world: World, make_service: Any
) -> None:
    alice = world.tokens["alice"]
    acme_mail, globex_vpn = await make_service(world.acme), await make_service(world.globex)
    rows = created(
        live,
        alice,
        tenants=["acme", f.encode_id("Tenant", world.globex)],
        publish=True,
        affectedServices=[
            {"serviceId": acme_mail, "status": "MAJOR_OUTAGE"},
            {"serviceId": globex_vpn, "status": "PARTIAL_OUTAGE"},
        ],
    )
    assert sorted(r["tenant"]["slug"] for r in rows) == ["acme", "globex"]
    assert len({r["broadcastId"] for r in rows}) == 1 and len({r["id"] for r in rows}) == 2
    by_tenant = {r["tenant"]["slug"]: r for r in rows}
    assert [s["service"]["id"] for s in by_tenant["acme"]["affectedServices"]] == [acme_mail]
    assert [s["service"]["id"] for s in by_tenant["globex"]["affectedServices"]] == [globex_vpn]
    assert status_of(live, alice, acme_mail) == "MAJOR_OUTAGE"
    assert status_of(live, alice, globex_vpn) == "PARTIAL_OUTAGE"
    done = live.gql_ok(
        alice, UPDATE, {"input": {"id": rows[0]["id"], "phase": "RESOLVED", "body": "All clear."}}
    )
    assert sorted(r["phase"] for r in done["postBulletinUpdate"]["bulletins"]) == ["RESOLVED", "RESOLVED"]
    assert (status_of(live, alice, acme_mail), status_of(live, alice, globex_vpn)) == (
        "OPERATIONAL",
        "OPERATIONAL",
    )


async def test_a_bulletin_may_name_an_incident_of_its_tenant(
    db: Database, live: f.LiveApp, world: World
) -> None:
    reporter = f.actor("carol", {world.acme: Role.CUSTOMER})
    incident = await f.report(db, reporter, world.acme, "Mail bounces")
    [row] = created(
        live, world.tokens["alice"], tenants=["acme"], incidentId=f.encode_id("Incident", incident.id)
    )
    assert row["incident"] == {"number": f"INC-{incident.number:06d}"}


async def test_a_maintenance_window_moves_by_itself_and_sets_the_status_while_it_runs(
    live: f.LiveApp, test_db: TestDatabase, world: World, make_service: Any
) -> None:
    alice = world.tokens["alice"]
    db_service = await make_service(world.acme)
    now = datetime.now(UTC)
    [window] = created(
        live,
        alice,
        tenants=["acme"],
        kind="MAINTENANCE",
        phase="SCHEDULED",
        title="Database upgrade",
        body="Planned upgrade.",
        publish=True,
        scheduledStart=(now + timedelta(hours=1)).isoformat(),
        scheduledEnd=(now + timedelta(hours=2)).isoformat(),
        affectedServices=[{"serviceId": db_service, "status": "UNDER_MAINTENANCE"}],
    )
    assert window["active"] is True
    assert status_of(live, alice, db_service) == "OPERATIONAL"  # scheduled: not yet under maintenance

    def phase() -> str:
        query = "query($id: ID!) { node(id: $id) { ... on Bulletin { phase updates { author body } } } }"
        node = live.gql_ok(alice, query, {"id": window["id"]})["node"]
        return str(node["phase"])

    # Time passes for the window, not for the test: its stored start, then its end, move into the past,
    # and the app's mover (ticking every 0.1 s here) finds each due.
    bulletin_id = str(f.row_id(window["id"]))
    f.owner_sql(
        test_db,
        "UPDATE bulletins SET scheduled_start = now() - interval '1 second' WHERE id = :id",
        {"id": bulletin_id},
    )
    eventually(lambda: phase() == "IN_PROGRESS", "the window started")
    assert status_of(live, alice, db_service) == "UNDER_MAINTENANCE"
    f.owner_sql(
        test_db,
        "UPDATE bulletins SET scheduled_end = now() - interval '1 second' WHERE id = :id",
        {"id": bulletin_id},
    )
    eventually(lambda: phase() == "COMPLETED", "the window ended")
    assert status_of(live, alice, db_service) == "OPERATIONAL"
    query = "query($id: ID!) { node(id: $id) { ... on Bulletin { active updates { phase author } } } }"
    node = live.gql_ok(alice, query, {"id": window["id"]})["node"]
    assert node["active"] is False
    assert node["updates"][:2] == [
        {"phase": "COMPLETED", "author": "system"},
        {"phase": "IN_PROGRESS", "author": "system"},
    ]


async def test_active_only_lists_published_unfinished_bulletins(live: f.LiveApp, world: World) -> None:
    alice = world.tokens["alice"]
    [open_one] = created(live, alice, tenants=["globex"], publish=True, title="Open")
    [draft] = created(live, alice, tenants=["globex"], title="Draft")
    [closed] = created(live, alice, tenants=["globex"], publish=True, title="Closed")
    live.gql_ok(alice, UPDATE, {"input": {"id": closed["id"], "phase": "RESOLVED", "body": "Done."}})
    query = (
        '{ bulletins(tenant: "globex", activeOnly: true, first: 100) { totalCount edges { node { id } } } }'
    )
    ids = [e["node"]["id"] for e in live.gql_ok(alice, query)["bulletins"]["edges"]]
    assert open_one["id"] in ids and draft["id"] not in ids and closed["id"] not in ids


async def test_bulletins_page_newest_first(live: f.LiveApp, world: World) -> None:
    gina = world.tokens["gina"]
    made = [created(live, gina, title=f"page {i}")[0]["id"] for i in range(3)]
    query = "query($after: String) { bulletins(first: 2, after: $after) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }"
    first = live.gql_ok(gina, query)["bulletins"]
    assert [e["node"]["id"] for e in first["edges"]] == made[::-1][:2] and first["pageInfo"]["hasNextPage"]
    second = live.gql_ok(gina, query, {"after": first["pageInfo"]["endCursor"]})["bulletins"]
    assert second["edges"][0]["node"]["id"] == made[0]


# ---------------------------------------------------------------- the public status


def test_the_public_status_needs_no_token(live: f.LiveApp, world: World) -> None:
    query = "query($slug: String!) { publicStatus(tenantSlug: $slug) { tenantName overall services { name status } activeBulletins { title } } }"
    data = live.gql_ok(None, query, {"slug": "acme"})["publicStatus"]
    assert data["tenantName"] == "Acme Corp" and data["overall"] in {
        "OPERATIONAL",
        "DEGRADED_PERFORMANCE",
        "PARTIAL_OUTAGE",
        "MAJOR_OUTAGE",
        "UNDER_MAINTENANCE",
    }
    assert all(b["title"] != "Draft" for b in data["activeBulletins"])
    assert live.gql_ok(None, query, {"slug": "globex"})["publicStatus"] is None  # no public page
    assert live.gql_ok(None, query, {"slug": "nope"})["publicStatus"] is None


async def test_the_status_page_serves_html_and_hides_tenants_without_one(
    live: f.LiveApp, world: World, make_service: Any
) -> None:
    await make_service(world.acme, "Status page <service>")
    async with httpx.AsyncClient(base_url=live.url) as client:
        page = await client.get("/status/acme")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "Acme Corp status" in page.text and "Status page &lt;service&gt;" in page.text
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert (await client.get("/static/status.js")).status_code == 200
        other, unknown = await client.get("/status/globex"), await client.get("/status/nope")
    assert other.status_code == unknown.status_code == 404
    assert other.text == unknown.text


# ---------------------------------------------------------------- refusals: one per kind, nothing written


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"title": "   "}, "INVALID", ["input", "title"]),
        ({"body": ""}, "INVALID", ["input", "body"]),
        ({"title": "x" * 301}, "INVALID", ["input", "title"]),
        ({"phase": "SCHEDULED"}, "INVALID", ["input", "phase"]),
        ({"phase": "RESOLVED"}, "INVALID", ["input", "phase"]),
        ({"kind": "MAINTENANCE", "phase": "SCHEDULED"}, "INVALID", ["input", "scheduledStart"]),
        (
            {
                "kind": "MAINTENANCE",
                "phase": "SCHEDULED",
                "scheduledStart": "2030-01-01T10:00:00Z",
                "scheduledEnd": "2030-01-01T09:00:00Z",
            },
            "INVALID",
            ["input", "scheduledEnd"],
        ),
        ({"scheduledStart": "2030-01-01T10:00:00Z"}, "INVALID", ["input", "scheduledStart"]),
        ({"tenants": []}, "INVALID", ["input", "tenants"]),
        ({"tenants": ["acme", "nope"]}, "NOT_FOUND", ["input", "tenants", "1"]),
        ({"tenants": ["acme", "hidden"]}, "NOT_FOUND", ["input", "tenants", "1"]),
        ({"incidentId": "not-an-id"}, "NOT_FOUND", ["input", "incidentId"]),
        (
            {
                "affectedServices": [
                    {
                        "serviceId": "U2VydmljZTowMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDE",
                        "status": "MAJOR_OUTAGE",
                    }
                ]
            },
            "NOT_FOUND",
            ["input", "affectedServices", "0", "serviceId"],
        ),
    ],
)
def test_create_refusals(
    live: f.LiveApp, world: World, test_db: TestDatabase, fields: dict[str, Any], code: str, field: list[str]
) -> None:
    before = bulletin_count(test_db)
    data = create(live, world.tokens["alice"], **{"tenants": ["acme"], **fields})
    assert refusal(data) == (code, field)
    assert bulletin_count(test_db) == before


def test_a_tenant_outside_the_caller_reads_like_an_unknown_one(live: f.LiveApp, world: World) -> None:
    hidden = create(live, world.tokens["alice"], tenants=["hidden"])["userErrors"]
    unknown = create(live, world.tokens["alice"], tenants=["no-such-tenant"])["userErrors"]
    assert hidden == unknown


def test_a_customer_may_not_create_bulletins(live: f.LiveApp, world: World, test_db: TestDatabase) -> None:
    before = bulletin_count(test_db)
    assert refusal(create(live, world.tokens["carol"])) == ("FORBIDDEN", None)
    assert bulletin_count(test_db) == before


def test_several_tenants_must_be_named(live: f.LiveApp, world: World) -> None:
    assert refusal(create(live, world.tokens["alice"])) == ("INVALID", ["input", "tenants"])


async def test_a_service_of_another_tenant_is_not_found(
    live: f.LiveApp, world: World, make_service: Any, test_db: TestDatabase
) -> None:
    foreign = await make_service(world.hidden)
    before = bulletin_count(test_db)
    data = create(
        live,
        world.tokens["alice"],
        tenants=["acme", "globex"],
        affectedServices=[{"serviceId": foreign, "status": "MAJOR_OUTAGE"}],
    )
    assert refusal(data) == ("NOT_FOUND", ["input", "affectedServices", "0", "serviceId"])
    assert bulletin_count(test_db) == before  # neither tenant's row was written


async def test_a_service_named_twice_is_invalid(live: f.LiveApp, world: World, make_service: Any) -> None:
    svc = await make_service(world.acme)
    twice = [{"serviceId": svc, "status": "MAJOR_OUTAGE"}, {"serviceId": svc, "status": "PARTIAL_OUTAGE"}]
    data = create(live, world.tokens["alice"], tenants=["acme"], affectedServices=twice)
    assert refusal(data) == ("INVALID", ["input", "affectedServices", "1", "serviceId"])


def test_too_many_affected_services_exceed_the_limit(live: f.LiveApp, world: World) -> None:
    many = [{"serviceId": f.encode_id("Service", uuid.uuid4()), "status": "MAJOR_OUTAGE"} for _ in range(101)]
    data = create(live, world.tokens["alice"], tenants=["acme"], affectedServices=many)
    assert refusal(data) == ("LIMIT_EXCEEDED", ["input", "affectedServices"])


def test_publishing_twice_is_invalid(live: f.LiveApp, world: World) -> None:
    [row] = created(live, world.tokens["alice"], tenants=["acme"], publish=True)
    data = live.gql_ok(world.tokens["alice"], PUBLISH, {"input": {"id": row["id"]}})["publishBulletin"]
    assert refusal(data) == ("INVALID", ["input", "id"])


def test_phases_do_not_go_back_or_past_the_end(live: f.LiveApp, world: World, test_db: TestDatabase) -> None:
    alice = world.tokens["alice"]
    [row] = created(live, alice, tenants=["acme"], phase="MONITORING")
    back = live.gql_ok(alice, UPDATE, {"input": {"id": row["id"], "phase": "IDENTIFIED", "body": "Hm."}})
    assert refusal(back["postBulletinUpdate"]) == ("INVALID_TRANSITION", ["input", "phase"])
    foreign = live.gql_ok(alice, UPDATE, {"input": {"id": row["id"], "phase": "COMPLETED", "body": "Hm."}})
    assert refusal(foreign["postBulletinUpdate"]) == ("INVALID", ["input", "phase"])
    live.gql_ok(alice, UPDATE, {"input": {"id": row["id"], "phase": "RESOLVED", "body": "Done."}})
    updates = int(f.owner_sql(test_db, "SELECT count(*) FROM bulletin_updates")[0][0])
    after = live.gql_ok(alice, UPDATE, {"input": {"id": row["id"], "phase": "RESOLVED", "body": "Again."}})
    assert refusal(after["postBulletinUpdate"]) == ("INVALID_TRANSITION", ["input", "phase"])
    assert int(f.owner_sql(test_db, "SELECT count(*) FROM bulletin_updates")[0][0]) == updates


def test_an_update_needs_a_body(live: f.LiveApp, world: World) -> None:
    [row] = created(live, world.tokens["alice"], tenants=["acme"])
    data = live.gql_ok(
        world.tokens["alice"], UPDATE, {"input": {"id": row["id"], "phase": "IDENTIFIED", "body": " "}}
    )
    assert refusal(data["postBulletinUpdate"]) == ("INVALID", ["input", "body"])


def test_an_unknown_or_foreign_bulletin_is_not_found(live: f.LiveApp, world: World) -> None:
    [theirs] = created(live, world.tokens["gina"])  # globex only
    for token, target in (
        (world.tokens["alice"], f.encode_id("Bulletin", uuid.uuid4())),
        (world.tokens["carol"], theirs["id"]),
        (world.tokens["alice"], "garbage"),
    ):
        data = live.gql_ok(token, PUBLISH, {"input": {"id": target}})["publishBulletin"]
        assert refusal(data) == ("NOT_FOUND", ["input", "id"])
        assert data["userErrors"][0]["message"] == "bulletin not found"


def test_a_customer_may_not_publish(live: f.LiveApp, world: World) -> None:
    [row] = created(live, world.tokens["alice"], tenants=["acme"])
    data = live.gql_ok(world.tokens["carol"], PUBLISH, {"input": {"id": row["id"]}})["publishBulletin"]
    assert refusal(data) == ("FORBIDDEN", None)


def test_anonymous_visitors_do_not_learn_who_wrote_an_update(live: f.LiveApp, world: World) -> None:
    created(
        live,
        world.tokens["alice"],
        tenants=["acme"],
        kind="INCIDENT",
        phase="INVESTIGATING",
        title="Slow checkout",
        body="We are looking into slow checkouts.",
        publish=True,
    )
    query = "query($slug: String!) { publicStatus(tenantSlug: $slug) { activeBulletins { title updates { author body } } } }"
    bulletins = live.gql_ok(None, query, {"slug": "acme"})["publicStatus"]["activeBulletins"]
    [checkout] = [b for b in bulletins if b["title"] == "Slow checkout"]
    assert checkout["updates"] == [{"author": "status team", "body": "We are looking into slow checkouts."}]
    # Staff still see who wrote it.
    staff = live.gql_ok(world.tokens["alice"], query, {"slug": "acme"})["publicStatus"]["activeBulletins"]
    assert [u["author"] for b in staff if b["title"] == "Slow checkout" for u in b["updates"]] == ["alice"]
