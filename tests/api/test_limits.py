"""Limits on every request, malformed requests, authentication answers, and masked server faults.

The module serves an app with small limits (depth, aliases, tokens, body size) so that each is easy to cross.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio

from domain.db import Database
from domain.settings import Settings
from domain.tenancy.roles import Role
from tests import factories as f

DEPTH, ALIASES, TOKENS, BODY = 6, 5, 400, 4096
SECRET = "SELECT password_hash FROM secret_table WHERE tenant_id = 'acme-internal'"


@pytest.fixture(scope="module")
def settings(test_db: Any) -> Settings:
    return f.settings_for(
        test_db, max_query_depth=DEPTH, max_aliases=ALIASES, max_tokens=TOKENS, max_body_bytes=BODY
    )


@dataclass
class World:
    token: str
    incident: str


@pytest_asyncio.fixture(scope="module")
async def world(db: Database, settings: Settings) -> World:
    acme = await f.create_tenant(db, "acme")
    await f.add_member(db, acme.id, "alice", Role.AGENT)
    incident = await f.report(db, f.actor("alice", {acme.id: Role.AGENT}), acme.id, "Mail down", "")
    return World(
        token=await f.mint_token(settings, db, "alice"), incident=f.encode_id("Incident", incident.id)
    )


def errors(body: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = body.get("errors") or []
    assert found, body
    return found


def nested_parents(levels: int) -> str:
    inner = "id"
    for _ in range(levels):
        inner = f"parent {{ {inner} }}"
    return f"query($id: ID!) {{ node(id: $id) {{ ... on Incident {{ {inner} }} }} }}"


# ---------------------------------------------------------------- query shape limits


def test_query_depth_at_the_limit_runs_and_beyond_is_refused(live: f.LiveApp, world: World) -> None:
    # node (1) > parent x N (N) > id: depth N + 2.
    within = live.gql(world.token, nested_parents(DEPTH - 2), {"id": world.incident})
    assert "errors" not in within, within
    beyond = live.gql(world.token, nested_parents(DEPTH + 3), {"id": world.incident})
    assert beyond.get("data") is None
    message = errors(beyond)[0]["message"]
    assert "depth" in message.lower()
    assert message != "Internal server error"


def test_too_many_aliases_are_refused(live: f.LiveApp, world: World) -> None:
    within = " ".join(f"a{i}: viewer {{ subject }}" for i in range(ALIASES))
    assert "errors" not in live.gql(world.token, f"{{ {within} }}")
    beyond = " ".join(f"a{i}: viewer {{ subject }}" for i in range(ALIASES + 1))
    body = live.gql(world.token, f"{{ {beyond} }}")
    assert body.get("data") is None
    assert "alias" in errors(body)[0]["message"].lower()


def test_too_many_tokens_are_refused(live: f.LiveApp, world: World) -> None:
    # Each repeated field is one token; the document stays far below the body cap.
    query = "{ viewer { " + " ".join(["subject"] * (TOKENS + 10)) + " } }"
    assert len(query.encode()) < BODY
    body = live.gql(world.token, query)
    assert body.get("data") is None
    assert "token" in errors(body)[0]["message"].lower()


@pytest.mark.parametrize(
    "query",
    [
        "{ incidents(first: 101) { totalCount } }",
        "{ incidents(last: 101) { totalCount } }",
        "{ tenants(first: 101) { totalCount } }",
        "{ services(first: 101) { totalCount } }",
        "query($id: ID!) { node(id: $id) { ... on Incident { timeline(first: 101) { totalCount } } } }",
        "query($id: ID!) { node(id: $id) { ... on Incident { children(first: 101) { totalCount } } } }",
    ],
    ids=["incidents-first", "incidents-last", "tenants", "services", "timeline", "children"],
)
def test_pages_over_100_are_refused(live: f.LiveApp, world: World, query: str) -> None:
    variables = {"id": world.incident} if "$id" in query else {}
    body = live.gql(world.token, query, variables)
    error = errors(body)[0]
    assert error["message"] != "Internal server error", error
    assert "100" in error["message"]


def test_more_than_100_node_ids_are_refused(live: f.LiveApp, world: World) -> None:
    ids = ["x"] * 101  # short ids: the request must stay under this module's small body cap
    body = live.gql(world.token, "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": ids})
    assert errors(body)[0]["message"] != "Internal server error"


# ---------------------------------------------------------------- the body cap


def _body_of(size: int) -> bytes:
    padding = "x" * size
    return json.dumps({"query": "{ viewer { subject } }", "variables": {"pad": padding}}).encode()


def test_a_body_just_under_the_cap_is_served(live: f.LiveApp, world: World) -> None:
    content = _body_of(BODY - 200)
    assert len(content) <= BODY
    response = httpx.post(
        f"{live.url}/graphql",
        content=content,
        headers={"content-type": "application/json", "authorization": f"Bearer {world.token}"},
    )
    assert response.status_code == 200, response.text


def test_a_body_over_the_cap_with_content_length_is_413(live: f.LiveApp, world: World) -> None:
    content = _body_of(BODY * 2)
    response = httpx.post(
        f"{live.url}/graphql",
        content=content,
        headers={"content-type": "application/json", "authorization": f"Bearer {world.token}"},
    )
    assert response.status_code == 413
    assert str(BODY) in response.text


def test_a_chunked_body_over_the_cap_is_413(live: f.LiveApp, world: World) -> None:
    content = _body_of(BODY * 4)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(content), 1000):
            yield content[start : start + 1000]

    response = httpx.post(
        f"{live.url}/graphql",
        content=chunks(),
        headers={"content-type": "application/json", "authorization": f"Bearer {world.token}"},
    )
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in response.request.headers
    assert response.status_code == 413


def test_a_lying_content_length_does_not_bypass_the_cap(live: f.LiveApp, world: World) -> None:
    # A client may announce a small body and stream a large one: h11 refuses the mismatch itself or the
    # counting cap answers 413. Either way the oversized body is never executed.
    import socket

    content = _body_of(BODY * 4)
    host, port = live.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        head = (
            f"POST /graphql HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {world.token}\r\nTransfer-Encoding: chunked\r\n\r\n"
        ).encode()
        sock.sendall(head)
        for start in range(0, len(content), 1024):
            part = content[start : start + 1024]
            try:
                sock.sendall(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            except OSError:
                break
        try:
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass
        answer = sock.recv(4096).decode(errors="replace")
    assert answer.startswith("HTTP/1.1 413"), answer[:200]


# ---------------------------------------------------------------- malformed requests and authentication


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"", b"[1, 2", b'"just a string"'],
    ids=["garbage", "empty", "truncated", "string"],
)
def test_malformed_json_is_400(live: f.LiveApp, world: World, content: bytes) -> None:
    response = httpx.post(
        f"{live.url}/graphql",
        content=content,
        headers={"content-type": "application/json", "authorization": f"Bearer {world.token}"},
    )
    assert response.status_code == 400, (response.status_code, response.text)
    assert "Traceback" not in response.text


def test_a_request_without_a_query_is_400(live: f.LiveApp, world: World) -> None:
    response = httpx.post(
        f"{live.url}/graphql", json={"variables": {}}, headers={"authorization": f"Bearer {world.token}"}
    )
    assert response.status_code == 400


@pytest.mark.parametrize(
    "header",
    ["Bearer not-a-jwt", "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "Basic YWxpY2U6c2VjcmV0", "Bearer"],
    ids=["garbage", "alg-none", "basic", "empty"],
)
def test_an_invalid_token_is_401_with_www_authenticate(live: f.LiveApp, header: str) -> None:
    response = httpx.post(
        f"{live.url}/graphql", json={"query": "{ viewer { subject } }"}, headers={"authorization": header}
    )
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer")
    assert 'error="invalid_token"' in challenge


async def test_an_expired_token_is_401(live: f.LiveApp, db: Database, settings: Settings) -> None:
    # Signed by the real issuer key, expired an hour ago (well past any clock-skew leeway).
    from auth import Authority
    from auth.tokens import build_claims, sign

    authority = Authority(settings, db)
    try:
        claims = build_claims(
            issuer=settings.public_url,
            audience=settings.audience,
            subject="alice",
            scopes=frozenset({"incidents:read"}),
            ttl_seconds=60,
        )
        claims.update(iat=claims["iat"] - 7200, nbf=claims["nbf"] - 7200, exp=claims["iat"] - 3600)
        token = sign(claims, await authority.keys.signing_key())
    finally:
        await authority.aclose()
    response = f.post_graphql(live.url, token, "{ viewer { subject } }")
    assert response.status_code == 401
    assert "www-authenticate" in response.headers


@pytest.mark.parametrize(
    "query",
    [
        "{ viewer { subject } }",
        "{ incidents { totalCount } }",
        "{ tenants { totalCount } }",
        '{ node(id: "x") { id } }',
        'mutation { reportIncident(input: {title: "t", description: "d"}) { userErrors { code } } }',
    ],
)
def test_protected_fields_without_a_token_are_unauthenticated(live: f.LiveApp, query: str) -> None:
    body = live.gql(None, query)
    error = errors(body)[0]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert error["message"] != "Internal server error"


# ---------------------------------------------------------------- masked server faults


async def _boom(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError(SECRET)


def _assert_masked(response: httpx.Response) -> None:
    assert response.status_code == 200
    text = response.text
    for leak in ("SELECT", "secret_table", "password", "Traceback", "RuntimeError", "acme-internal"):
        assert leak not in text, text
    body = response.json()
    assert [e["message"] for e in errors(body)] == ["Internal server error"]
    assert set(body["errors"][0]) <= {"message", "locations", "path"}


def test_an_unexpected_error_in_a_query_is_masked(
    live: f.LiveApp, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("api.schema.viewer", _boom)
    _assert_masked(f.post_graphql(live.url, world.token, "{ viewer { subject } }"))


def test_an_unexpected_error_in_a_mutation_is_masked(
    live: f.LiveApp, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("domain.incidents.service.report_incident", _boom)
    query = 'mutation { reportIncident(input: {title: "t", description: "d"}) { userErrors { code } } }'
    _assert_masked(f.post_graphql(live.url, world.token, query))


def test_a_database_error_is_masked(live: f.LiveApp, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # A real SQL failure in a resolver: the driver's message (with the SQL) must not reach the client.
    from sqlalchemy import text

    async def broken_viewer(ctx: Any) -> Any:
        async with ctx.read() as session:
            await session.execute(text("SELECT password_hash FROM secret_table"))

    monkeypatch.setattr("api.schema.viewer", broken_viewer)
    _assert_masked(f.post_graphql(live.url, world.token, "{ viewer { subject } }"))


@pytest_asyncio.fixture
async def slow_failure(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    async def slow_boom(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0.3)
        raise RuntimeError(SECRET)

    monkeypatch.setattr("api.schema.viewer", slow_boom)
    yield


async def test_errors_stay_masked_under_concurrent_requests(
    live: f.LiveApp, world: World, slow_failure: None
) -> None:
    # Failing requests overlap with each other and with quick successful ones: every failure must be
    # masked, whichever request finishes last (masking state must belong to each request).
    failing = "{ viewer { subject } }"
    passing = "{ tenants { totalCount } }"
    headers = {"authorization": f"Bearer {world.token}"}
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:

        async def send(query: str, delay: float) -> httpx.Response:
            await asyncio.sleep(delay)
            return await client.post("/graphql", json={"query": query}, headers=headers)

        calls = [send(failing, i * 0.03) for i in range(8)] + [
            send(passing, 0.05 + i * 0.04) for i in range(6)
        ]
        responses = await asyncio.gather(*calls)
    for response in responses[:8]:
        _assert_masked(response)
    for response in responses[8:]:
        assert response.json() == {"data": {"tenants": {"totalCount": 1}}}


def test_a_badly_typed_variable_is_explained_not_masked(live: f.LiveApp, world: World) -> None:
    # Coercing variables happens before execution: the message is about the client's own input.
    query = "query($after: DateTime) { incidents(filter: {reportedAfter: $after}) { totalCount } }"
    body = f.post_graphql(live.url, world.token, query, {"after": "2031-01-01 09:00"}).json()
    [error] = errors(body)
    assert error["message"] != "Internal server error"
    assert "offset" in error["message"], error


def test_a_subscription_sent_over_http_is_a_client_error(live: f.LiveApp, world: World) -> None:
    response = f.post_graphql(live.url, world.token, "subscription { incidentEvents { id } }")
    assert response.status_code in (200, 400)
    [error] = errors(response.json())
    assert error["message"] != "Internal server error", error
