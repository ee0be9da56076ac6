"""Partners as OAuth clients, through real client-credentials exchanges at ``/oauth/token``: what each
scope lets them read and write, and ``Idempotency-Key`` making a retried write act once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.idempotency import IdempotencyKeys
from auth import Authority
from domain.db import Database, create_database
from domain.settings import Settings
from domain.tenancy.roles import Role
from tests import factories as f
from tests.conftest import TestDatabase
from tests.server import serve

REPORT = """
mutation($input: ReportIncidentInput!) {
  reportIncident(input: $input) { incident { id number title source reportedBy } userErrors { field message code } }
}
"""
COMMENT = """
mutation($input: CommentInput!) {
  addComment(input: $input) { event { kind actor message } userErrors { field message code } }
}
"""
CREATE_SERVICE = """
mutation { createService(input: {name: "Partner service"}) { service { id } userErrors { code } } }
"""
CREATE_BULLETIN = """
mutation($input: CreateBulletinInput!) {
  createBulletin(input: $input) { bulletins { id title } userErrors { field message code } }
}
"""
CREATE_CONTRACT = """
mutation($input: SlaContractInput!) {
  createSlaContract(input: $input) { contract { id } userErrors { field message code } }
}
"""
CONTRACT = {
    "name": "Gold",
    "timezone": "UTC",
    "effectiveFrom": "2026-01-01T00:00:00Z",
    "targets": [
        {"priority": p, "responseMinutes": 30, "resolutionMinutes": 240}
        for p in ("P1", "P2", "P3", "P4", "P5")
    ],
}
INCIDENTS = "{ incidents(first: 20) { totalCount edges { node { id title tenant { slug } } } } }"
BULLETINS = "{ bulletins(first: 20) { totalCount edges { node { title published } } } }"


@dataclass
class World:
    acme: uuid.UUID
    acme_incident: str
    globex_incident: str
    clients: dict[str, tuple[str, str]]
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def settings(test_db: TestDatabase) -> Settings:
    return f.settings_for(test_db)


@pytest.fixture(scope="module")
def live(test_db: TestDatabase, settings: Settings) -> Iterator[f.LiveApp]:
    with f.app_server(test_db, settings) as served:
        yield served


def exchange(live: f.LiveApp, client: tuple[str, str]) -> str:
    """A real client-credentials exchange at the token endpoint."""
    response = httpx.post(f"{live.url}/oauth/token", data={"grant_type": "client_credentials"}, auth=client)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


@pytest_asyncio.fixture(scope="module")
async def world(db: Database, settings: Settings, live: f.LiveApp) -> World:
    acme = await f.create_tenant(db, "acme")
    globex = await f.create_tenant(db, "globex")
    await f.add_member(db, acme.id, "mia", Role.MANAGER)
    await f.add_member(db, globex.id, "gina", Role.MANAGER)
    mia = f.actor("mia", {acme.id: Role.MANAGER})
    gina = f.actor("gina", {globex.id: Role.MANAGER})
    acme_incident = await f.report(db, mia, acme.id, "Payroll export fails")
    globex_incident = await f.report(db, gina, globex.id, "Globex VPN down")
    tokens = await f.mint_tokens(settings, db, "mia", "gina")
    bulletin = await asyncio.to_thread(
        live.gql_ok,
        tokens["mia"],
        CREATE_BULLETIN,
        {
            "input": {
                "kind": "INFORMATION",
                "title": "Database upgrade",
                "body": "Saturday night",
                "phase": "IN_PROGRESS",
                "publish": True,
            }
        },
    )
    assert bulletin["createBulletin"]["userErrors"] == []
    authority = Authority(settings, db)
    try:
        clients = {
            "reader": await authority.create_client(acme.id, "Status mirror", ["incidents:read"]),
            # A MANAGER membership, yet only incident scopes: rights are the role's intersected with scopes.
            "writer": await authority.create_client(
                acme.id, "Vendor desk", ["incidents:read", "incidents:write"], role=Role.MANAGER
            ),
            "bulletins": await authority.create_client(acme.id, "Status widget", ["bulletins:read"]),
        }
    finally:
        await authority.aclose()
    partner_tokens = {name: await asyncio.to_thread(exchange, live, c) for name, c in clients.items()}
    return World(
        acme=acme.id,
        acme_incident=str(f.encode_id("Incident", acme_incident.id)),
        globex_incident=str(f.encode_id("Incident", globex_incident.id)),
        clients=clients,
        tokens={**tokens, **partner_tokens},
    )


def codes(payload: dict[str, Any]) -> list[str]:
    return [e["code"] for e in payload["userErrors"]]


# ---------------------------------------------------------------- scopes


def test_a_reader_reads_incidents_but_cannot_write(live: f.LiveApp, world: World) -> None:
    token = world.tokens["reader"]
    titles = [e["node"]["title"] for e in live.gql_ok(token, INCIDENTS)["incidents"]["edges"]]
    assert titles == ["Payroll export fails"]
    report = live.gql_ok(token, REPORT, {"input": {"title": "From a reader", "description": ""}})
    assert report["reportIncident"] == {
        "incident": None,
        "userErrors": report["reportIncident"]["userErrors"],
    }
    assert codes(report["reportIncident"]) == ["FORBIDDEN"]
    comment = live.gql_ok(token, COMMENT, {"input": {"id": world.acme_incident, "body": "hello"}})
    assert codes(comment["addComment"]) == ["FORBIDDEN"]


def test_a_writer_reports_as_partner_api_and_comments(live: f.LiveApp, world: World) -> None:
    token = world.tokens["writer"]
    client_id = world.clients["writer"][0]
    report = live.gql_ok(token, REPORT, {"input": {"title": "Vendor link flapping", "description": "BGP"}})
    assert report["reportIncident"]["userErrors"] == []
    assert report["reportIncident"]["incident"]["source"] == "PARTNER_API"
    assert report["reportIncident"]["incident"]["reportedBy"] == client_id
    comment = live.gql_ok(
        token, COMMENT, {"input": {"id": world.acme_incident, "body": "Vendor ticket V-123"}}
    )
    assert comment["addComment"]["userErrors"] == []
    assert comment["addComment"]["event"]["actor"] == client_id


def test_a_writer_touches_no_contracts_bulletins_or_catalogue(live: f.LiveApp, world: World) -> None:
    token = world.tokens["writer"]
    contract = live.gql_ok(token, CREATE_CONTRACT, {"input": CONTRACT})["createSlaContract"]
    assert contract["contract"] is None and codes(contract) == ["FORBIDDEN"]
    bulletin = live.gql_ok(
        token,
        CREATE_BULLETIN,
        {"input": {"kind": "INFORMATION", "title": "Hi", "body": "x", "phase": "INVESTIGATING"}},
    )["createBulletin"]
    assert bulletin["bulletins"] == [] and codes(bulletin) == ["FORBIDDEN"]
    service = live.gql_ok(token, CREATE_SERVICE)["createService"]
    assert service["service"] is None and codes(service) == ["FORBIDDEN"]
    assert live.gql_ok(token, BULLETINS)["bulletins"]["totalCount"] == 0


def test_a_writer_cannot_reach_another_tenant(live: f.LiveApp, world: World) -> None:
    token = world.tokens["writer"]
    comment = live.gql_ok(token, COMMENT, {"input": {"id": world.globex_incident, "body": "peek"}})
    assert codes(comment["addComment"]) == ["NOT_FOUND"]
    report = live.gql_ok(token, REPORT, {"input": {"tenant": "globex", "title": "x", "description": ""}})
    assert codes(report["reportIncident"]) == ["NOT_FOUND"]
    node = live.gql_ok(token, "query($id: ID!) { node(id: $id) { id } }", {"id": world.globex_incident})
    assert node == {"node": None}
    slugs = {e["node"]["tenant"]["slug"] for e in live.gql_ok(token, INCIDENTS)["incidents"]["edges"]}
    assert slugs == {"acme"}


def test_bulletins_read_alone_sees_bulletins_and_nothing_else(live: f.LiveApp, world: World) -> None:
    token = world.tokens["bulletins"]
    bulletins = live.gql_ok(token, BULLETINS)["bulletins"]
    assert [e["node"] for e in bulletins["edges"]] == [{"title": "Database upgrade", "published": True}]
    assert live.gql_ok(token, INCIDENTS)["incidents"] == {"totalCount": 0, "edges": []}
    node = live.gql_ok(token, "query($id: ID!) { node(id: $id) { id } }", {"id": world.acme_incident})
    assert node == {"node": None}
    report = live.gql_ok(token, REPORT, {"input": {"title": "x", "description": ""}})
    assert codes(report["reportIncident"]) == ["FORBIDDEN"]
    assert live.gql_ok(token, "{ slaContracts { id } }")["slaContracts"] == []


def test_a_client_gets_no_scope_beyond_its_own(live: f.LiveApp, world: World) -> None:
    response = httpx.post(
        f"{live.url}/oauth/token",
        data={"grant_type": "client_credentials", "scope": "incidents:read incidents:write"},
        auth=world.clients["reader"],
    )
    assert response.status_code == 200
    assert response.json()["scope"] == "incidents:read"


# ---------------------------------------------------------------- Idempotency-Key


def post(
    live: f.LiveApp, token: str, query: str, variables: dict[str, Any], key: str | None
) -> httpx.Response:
    headers = {"idempotency-key": key} if key is not None else {}
    return f.post_graphql(live.url, token, query, variables, headers=headers)


def count_titled(test_db: TestDatabase, title: str) -> int:
    return int(f.owner_sql(test_db, "SELECT count(*) FROM incidents WHERE title = :t", {"t": title})[0][0])


def test_a_retried_write_returns_the_first_answer(
    live: f.LiveApp, world: World, test_db: TestDatabase
) -> None:
    key = str(uuid.uuid4())
    variables = {"input": {"title": "Retried once", "description": "network blip"}}
    first = post(live, world.tokens["writer"], REPORT, variables, key)
    again = post(live, world.tokens["writer"], REPORT, variables, key)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert count_titled(test_db, "Retried once") == 1


def test_the_same_key_for_another_request_is_refused(
    live: f.LiveApp, world: World, test_db: TestDatabase
) -> None:
    key = str(uuid.uuid4())
    post(live, world.tokens["writer"], REPORT, {"input": {"title": "Key A", "description": ""}}, key)
    other = post(live, world.tokens["writer"], REPORT, {"input": {"title": "Key B", "description": ""}}, key)
    assert other.status_code == 422
    assert other.json()["errors"][0]["extensions"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert count_titled(test_db, "Key B") == 0


def test_keys_are_per_principal(live: f.LiveApp, world: World, test_db: TestDatabase) -> None:
    key = str(uuid.uuid4())
    variables = {"input": {"title": "Same key, two callers", "description": ""}}
    a = post(live, world.tokens["writer"], REPORT, variables, key)
    b = post(live, world.tokens["mia"], REPORT, variables, key)
    assert a.status_code == b.status_code == 200
    assert "idempotent-replayed" not in b.headers
    assert (
        a.json()["data"]["reportIncident"]["incident"]["id"]
        != b.json()["data"]["reportIncident"]["incident"]["id"]
    )
    assert count_titled(test_db, "Same key, two callers") == 2


def test_a_refusal_is_replayed_too(live: f.LiveApp, world: World) -> None:
    key = str(uuid.uuid4())
    variables = {"input": {"title": "   ", "description": ""}}
    first = post(live, world.tokens["writer"], REPORT, variables, key)
    assert codes(first.json()["data"]["reportIncident"]) == ["INVALID"]
    again = post(live, world.tokens["writer"], REPORT, variables, key)
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"


def test_queries_and_requests_without_a_key_are_untouched(
    live: f.LiveApp, world: World, test_db: TestDatabase
) -> None:
    key = str(uuid.uuid4())
    read = post(live, world.tokens["writer"], INCIDENTS, {}, key)
    assert read.status_code == 200 and "idempotent-replayed" not in read.headers
    variables = {"input": {"title": "No key twice", "description": ""}}
    post(live, world.tokens["writer"], REPORT, variables, None)
    post(live, world.tokens["writer"], REPORT, variables, None)
    assert count_titled(test_db, "No key twice") == 2


def test_a_malformed_key_is_refused(live: f.LiveApp, world: World) -> None:
    response = post(live, world.tokens["writer"], REPORT, {"input": {"title": "x", "description": ""}}, "a b")
    assert response.status_code == 400


def test_an_expired_key_acts_anew(live: f.LiveApp, world: World, test_db: TestDatabase) -> None:
    key = str(uuid.uuid4())
    variables = {"input": {"title": "After a day", "description": ""}}
    post(live, world.tokens["writer"], REPORT, variables, key)
    f.owner_sql(
        test_db,
        "UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE idempotency_key = :k",
        {"k": key},
    )
    later = post(live, world.tokens["writer"], REPORT, variables, key)
    assert "idempotent-replayed" not in later.headers
    assert count_titled(test_db, "After a day") == 2


async def test_concurrent_duplicates_act_once(live: f.LiveApp, world: World, test_db: TestDatabase) -> None:
    key = str(uuid.uuid4())
    body = {"query": REPORT, "variables": {"input": {"title": "Sent five times at once", "description": ""}}}
    headers = {"authorization": f"Bearer {world.tokens['writer']}", "idempotency-key": key}
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as http:
        responses = await asyncio.gather(
            *(http.post("/graphql", json=body, headers=headers) for _ in range(5))
        )
        statuses = sorted(r.status_code for r in responses)
        # The first runs; the others either wait for nothing and are told to retry (409), or arrive after
        # it finished and get its answer replayed (200).
        assert set(statuses) <= {200, 409} and 200 in statuses
        assert all(r.headers.get("retry-after") == "1" for r in responses if r.status_code == 409)
        retried = await http.post("/graphql", json=body, headers=headers)
    assert retried.status_code == 200 and retried.headers["idempotent-replayed"] == "true"
    assert count_titled(test_db, "Sent five times at once") == 1
    answers = {r.text for r in responses if r.status_code == 200} | {retried.text}
    assert len(answers) == 1


@pytest.mark.parametrize("status", [500, 200], ids=["http 5xx", "masked fault in a 200"])
def test_a_first_request_that_failed_frees_its_key(
    settings: Settings, world: World, test_db: TestDatabase, status: int
) -> None:
    # The middleware in front of an endpoint that fails once with a server fault (an HTTP 5xx, or a masked
    # GraphQL error answered with 200), then answers.
    calls: list[int] = []

    async def flaky(request: Request) -> Response:
        calls.append(1)
        if len(calls) == 1:
            return JSONResponse(
                {"data": None, "errors": [{"message": "Internal server error"}]}, status_code=status
            )
        return JSONResponse({"data": {"done": len(calls)}})

    database = create_database(test_db.app_url, pool_size=2)
    authority = Authority(settings, database)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await authority.aclose()
            await database.dispose()

    app = Starlette(
        routes=[Route("/graphql", flaky, methods=["POST"])],
        middleware=[Middleware(IdempotencyKeys, database=database, authority=authority, ttl_seconds=3600)],
        lifespan=lifespan,
    )
    body = {"query": "mutation { done }"}
    headers = {"authorization": f"Bearer {world.tokens['writer']}", "idempotency-key": str(uuid.uuid4())}
    with serve(app) as url:
        failed = httpx.post(f"{url}/graphql", json=body, headers=headers)
        retried = httpx.post(f"{url}/graphql", json=body, headers=headers)
        replayed = httpx.post(f"{url}/graphql", json=body, headers=headers)
    assert failed.status_code == status
    assert retried.status_code == 200 and retried.json() == {"data": {"done": 2}}
    assert replayed.json() == {"data": {"done": 2}} and replayed.headers["idempotent-replayed"] == "true"
    assert len(calls) == 2
