"""Generated GraphQL, as every role of two tenants whose rows carry markers (tests/security/world.py).

- Operations generated from the served schema by hypothesis-graphql (queries and mutations, arguments
  filled at random, IDs drawn from both tenants' real global IDs, slugs and junk): no answer is a server
  fault (HTTP 5xx or a masked error), no answer carries the other tenant's markers, and no answer to a
  CUSTOMER (or an anonymous caller) carries an internal marker.
- A property over principals and global IDs of every type across tenants: what is out of the caller's
  scope answers byte for byte like an ID that does not exist.

Examples are bounded by count, never by time.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC
from typing import Any

import httpx
import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import from_schema, nodes

from api.errors import MASKED_MESSAGE
from api.schema import build_schema
from domain.db import Database
from domain.settings import Settings
from tests import factories as f
from tests.security.world import Caller, MarkedWorld, Row, seed

FUZZ = settings(
    max_examples=70,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def app_settings(test_db: Any) -> Settings:
    # The fuzzer sends more than a person would: the per-principal rate limit is not what is under test.
    return f.settings_for(test_db, rate_limit_per_minute=1_000_000)


@pytest_asyncio.fixture(scope="module")
async def world(db: Database, app_settings: Settings, test_db: Any) -> MarkedWorld:
    return await seed(db, app_settings, test_db)


@pytest.fixture(scope="module")
def live(test_db: Any, app_settings: Settings, world: MarkedWorld) -> Iterator[f.LiveApp]:
    with f.app_server(test_db, app_settings) as served:
        yield served


@pytest.fixture(scope="module")
def http(live: f.LiveApp) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, timeout=60) as client:
        yield client


def ask(
    http: httpx.Client, caller: Caller, query: str, variables: dict[str, Any] | None = None
) -> httpx.Response:
    headers = {"authorization": f"Bearer {caller.token}"} if caller.token else {}
    return http.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)


def check_answer(world: MarkedWorld, caller: Caller, query: str, response: httpx.Response) -> None:
    context = f"{caller.name} ran:\n{query}\nand got {response.status_code}: {response.text[:600]}"
    assert response.status_code < 500, context
    assert MASKED_MESSAGE not in response.text, context
    leaked = [m for m in world.forbidden_for(caller) if m in response.text]
    assert not leaked, f"leaked {leaked}; {context}"


def _id_values(world: MarkedWorld) -> st.SearchStrategy[Any]:
    real = [row.global_id for row in world.rows]
    names = [*world.tenants, *(str(t) for t in world.tenants.values())]
    junk = st.text(max_size=12) | st.builds(
        lambda t: f.encode_id(t, uuid.uuid4()),
        st.sampled_from(sorted({row.type_name for row in world.rows} | {"IncidentTask", "Membership"})),
    )
    return st.one_of(st.sampled_from(real), st.sampled_from(names), junk).map(nodes.String)


def _scalars(world: MarkedWorld) -> dict[str, st.SearchStrategy[Any]]:
    return {
        "ID": _id_values(world),
        "DateTime": st.datetimes(timezones=st.just(UTC)).map(lambda d: nodes.String(d.isoformat())),
        "Date": st.dates().map(lambda d: nodes.String(d.isoformat())),
        "JSON": st.just(nodes.String("{}")),
    }


# ---------------------------------------------------------------- out of scope reads like absent


def test_out_of_scope_answers_exactly_like_absent(
    live: f.LiveApp, http: httpx.Client, world: MarkedWorld
) -> None:
    members = [c for c in world.callers if c.role is not None]
    query = "query($id: ID!) { node(id: $id) { __typename id } }"
    many = "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }"

    @settings(FUZZ, max_examples=50)
    @given(st.sampled_from(members), st.sampled_from(world.rows))
    def check(caller: Caller, row: Row) -> None:
        absent = f.encode_id(row.type_name, uuid.uuid4())
        answer = ask(http, caller, query, {"id": row.global_id})
        check_answer(world, caller, query, answer)
        if row.visible_to(caller):
            assert answer.json()["data"]["node"]["id"] == row.global_id, (caller.name, row)
        else:
            assert answer.content == ask(http, caller, query, {"id": absent}).content, (caller.name, row)
            batch = ask(http, caller, many, {"ids": [row.global_id, absent]})
            assert batch.json() == {"data": {"nodes": [None, None]}}, (caller.name, row, batch.text)

    check()


# ---------------------------------------------------------------- generated operations


def test_generated_operations_as_every_role(live: f.LiveApp, http: httpx.Client, world: MarkedWorld) -> None:
    schema = build_schema(live.settings)._schema
    operations = from_schema(schema, custom_scalars=_scalars(world))

    answered = []

    @FUZZ
    @given(st.sampled_from(world.callers), operations)
    def check(caller: Caller, query: str) -> None:
        response = ask(http, caller, query)
        check_answer(world, caller, query, response)
        answered.append(bool(response.json().get("data")))

    check()
    # Most operations ran rather than being refused by a limit: the fuzzer reached the resolvers.
    assert sum(answered) >= len(answered) // 3, f"{sum(answered)} of {len(answered)} operations answered data"
    # The world is still there to be leaked: the markers were readable all along to those allowed.
    staff = next(c for c in world.callers if c.tenant == "acme" and c.staff)
    everything = ask(
        http,
        staff,
        "{ incidents(first: 50) { edges { node { title timeline { edges { node { message } } } } } } }",
    )
    assert "MKacmeINT" in everything.text and "MKacmePUB" in everything.text
    assert json.loads(everything.text).get("errors") is None
