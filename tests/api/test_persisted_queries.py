"""Automatic Persisted Queries (Apollo's convention) and the hot path's memory of recent requests.

A client may send ``extensions.persistedQuery.sha256Hash`` instead of the text, over POST or GET; an
unknown hash answers PERSISTED_QUERY_NOT_FOUND, the client sends hash and text once, and from then on
the hash alone does. The hot path keeps what a request's bytes decoded to, never what it answered: two
callers sending the same bytes each get their own tenants' answer.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import httpx
import pytest_asyncio

from api.graphql.recent import RecentQueries
from domain.db import Database
from domain.settings import Settings
from domain.tenancy.roles import Role
from tests import factories as f

PAGE = "{ incidents(first: 5) { edges { node { title } } } }"


@dataclass
class World:
    acme_token: str
    globex_token: str


@pytest_asyncio.fixture(scope="module")
async def world(db: Database, settings: Settings) -> World:
    acme = await f.create_tenant(db, "acme")
    globex = await f.create_tenant(db, "globex")
    await f.add_member(db, acme.id, "alice", Role.AGENT)
    await f.add_member(db, globex.id, "gus", Role.AGENT)
    await f.report(db, f.actor("alice", {acme.id: Role.AGENT}), acme.id, "Acme mail down", "")
    await f.report(db, f.actor("gus", {globex.id: Role.AGENT}), globex.id, "Globex VPN down", "")
    return World(
        acme_token=await f.mint_token(settings, db, "alice"),
        globex_token=await f.mint_token(settings, db, "gus"),
    )


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def persisted(sha: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha}}


def post(live: f.LiveApp, token: str, payload: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{live.url}/graphql",
        content=json.dumps(payload).encode(),
        headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
    )


def titles(body: dict[str, Any]) -> list[str]:
    return [edge["node"]["title"] for edge in body["data"]["incidents"]["edges"]]


def test_an_unknown_hash_is_asked_for_then_the_hash_alone_answers_over_post_and_get(
    live: f.LiveApp, world: World
) -> None:
    text = "{ incidents(first: 3) { edges { node { title status } } } }"
    sha = digest(text)
    unknown = post(live, world.acme_token, {"extensions": persisted(sha)})
    assert unknown.status_code == 200
    assert unknown.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"

    registered = post(live, world.acme_token, {"query": text, "extensions": persisted(sha)})
    assert registered.status_code == 200 and titles(registered.json()) == ["Acme mail down"]

    by_hash = post(live, world.acme_token, {"extensions": persisted(sha)})
    assert by_hash.json() == registered.json()
    by_get = httpx.get(
        f"{live.url}/graphql",
        params={"extensions": json.dumps(persisted(sha))},
        headers={"authorization": f"Bearer {world.acme_token}"},
    )
    assert by_get.status_code == 200 and by_get.json() == registered.json()


def test_a_hash_that_is_not_the_texts_is_refused(live: f.LiveApp, world: World) -> None:
    answer = post(live, world.acme_token, {"query": PAGE, "extensions": persisted(digest(PAGE + " "))})
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    # ...and the wrong hash was not remembered for the text.
    again = post(live, world.acme_token, {"extensions": persisted(digest(PAGE + " "))})
    assert again.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


def test_the_same_bytes_from_two_tenants_get_each_their_own_answer(live: f.LiveApp, world: World) -> None:
    payload = {"query": PAGE}
    for _ in range(3):  # the bytes are known from the first round on
        assert titles(post(live, world.acme_token, payload).json()) == ["Acme mail down"]
        assert titles(post(live, world.globex_token, payload).json()) == ["Globex VPN down"]
    sha = digest(PAGE)
    post(live, world.acme_token, {"query": PAGE, "extensions": persisted(sha)})
    assert titles(post(live, world.globex_token, {"extensions": persisted(sha)}).json()) == [
        "Globex VPN down"
    ]


def test_recent_queries_keep_small_requests_and_drop_the_oldest_when_full() -> None:
    recent: RecentQueries[str] = RecentQueries(capacity=2, max_bytes=10)
    assert recent.put(("POST", b"", b"first"), "1") == "1"
    recent.put(("POST", b"", b"second"), "2")
    recent.put(("POST", b"", b"0123456789-too-long"), "big")
    assert recent.get(("POST", b"", b"0123456789-too-long")) is None
    assert recent.get(("POST", b"", b"first")) == "1"
    recent.put(("GET", b"query=x", b""), "3")
    assert recent.get(("POST", b"", b"first")) is None
    assert recent.get(("POST", b"", b"second")) == "2" and recent.get(("GET", b"query=x", b"")) == "3"
