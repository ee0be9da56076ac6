"""A WebSocket is held to the limits of an HTTP request: each operation counts against the caller's rate
limit, and a subscription is priced against the query cost budget before it starts (its selection is
resolved on every event). A refused operation is answered with an error; the connection stays open."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio

from domain.db import Database
from domain.settings import Settings
from domain.tenancy.roles import Role
from tests import factories as f
from tests.conftest import TestDatabase
from tests.live.ws import LEGACY, TRANSPORT, Socket

RATE, BUDGET = 4, 500

# incidentEvents resolves each event's incident and its timeline page: 1 + 1 + 1 + 100 x 4 fields.
COSTLY = """subscription { incidentEvents {
  kind incident { number timeline(first: 100) { edges { node { kind message at } } } }
} }"""
CHEAP = "subscription { incidentEvents { kind } }"


@dataclass
class World:
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def settings(test_db: TestDatabase) -> Settings:
    return f.settings_for(test_db, rate_limit_per_minute=RATE, max_query_cost=BUDGET)


@pytest_asyncio.fixture(scope="module")
async def world(settings: Settings, db: Database) -> World:
    acme = await f.create_tenant(db, "acme")
    subjects = ("alice", "bob", "carl", "dan")
    for subject in subjects:
        await f.add_member(db, acme.id, subject, Role.AGENT)
    return World(await f.mint_tokens(settings, db, *subjects))


@pytest.fixture(scope="module")
def live(test_db: TestDatabase, settings: Settings, world: World) -> Iterator[f.LiveApp]:
    with f.app_server(test_db, settings) as served:
        yield served


def error_of(message: dict[str, Any]) -> dict[str, Any]:
    assert message["type"] == "error", message
    payload = message["payload"]
    found: dict[str, Any] = payload[0] if isinstance(payload, list) else payload
    return found


@pytest.mark.parametrize(("protocol", "subject"), [(TRANSPORT, "alice"), (LEGACY, "bob")])
async def test_a_subscription_over_the_cost_budget_is_refused_before_it_starts(
    live: f.LiveApp, world: World, protocol: str, subject: str
) -> None:
    socket = await Socket.connected(live.url, world.tokens[subject], protocol)
    await socket.subscribe("costly", COSTLY)
    error = error_of(await socket.receive())
    assert error["extensions"]["code"] == "LIMIT_EXCEEDED"
    assert error["extensions"]["cost"] > BUDGET == error["extensions"]["budget"]
    # The same connection still runs what fits the budget.
    await socket.subscribe("cheap", CHEAP)
    await socket.nothing_more()
    await socket.close()


@pytest.mark.parametrize(("protocol", "subject"), [(TRANSPORT, "carl"), (LEGACY, "dan")])
async def test_operations_over_a_websocket_count_against_the_rate_limit(
    live: f.LiveApp, world: World, protocol: str, subject: str
) -> None:
    socket = await Socket.connected(live.url, world.tokens[subject], protocol)
    for n in range(RATE):
        await socket.subscribe(f"op{n}", CHEAP)
    await socket.subscribe("one-too-many", CHEAP)
    message = await socket.receive()
    assert message["id"] == "one-too-many"
    assert error_of(message)["extensions"]["code"] == "LIMIT_EXCEEDED"
    await socket.close()


MALFORMED = [42, "Bearer x", [1], True, {"authorization": 42}, {"Authorization": ["Bearer"]}, {"tenant": 7}]


@pytest.mark.parametrize("protocol", [TRANSPORT, LEGACY])
@pytest.mark.parametrize("payload", MALFORMED, ids=[repr(p) for p in MALFORMED])
async def test_a_malformed_connection_init_closes_with_4400_and_says_why(
    live: f.LiveApp, protocol: str, payload: Any
) -> None:
    socket = await Socket.open(live.url, protocol)
    await socket.send({"type": "connection_init", "payload": payload})
    code, reason = await socket.close_reason()
    assert code == 4400 and reason is not None and reason.startswith("Invalid connection init payload"), (
        reason
    )
