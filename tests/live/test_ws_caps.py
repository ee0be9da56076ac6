"""A caller holds a bounded number of subscriptions in a process, over however many connections."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import pytest_asyncio

from domain.db import Database
from domain.settings import Settings
from domain.tenancy.roles import Role
from tests import factories as f
from tests.conftest import TestDatabase
from tests.live.ws import LEGACY, TRANSPORT, Socket, errors_of
from tests.waiting import eventually_async

PER_CALLER = 2
CHEAP = "subscription { incidentEvents { kind } }"


@pytest.fixture(scope="module")
def settings(test_db: TestDatabase) -> Settings:
    return f.settings_for(test_db, max_subscriptions_per_principal=PER_CALLER)


@pytest_asyncio.fixture(scope="module")
async def tokens(settings: Settings, db: Database) -> dict[str, str]:
    acme = await f.create_tenant(db, "acme")
    for subject in ("erin", "fay"):
        await f.add_member(db, acme.id, subject, Role.AGENT)
    return await f.mint_tokens(settings, db, "erin", "fay")


@pytest.fixture(scope="module")
def live(test_db: TestDatabase, settings: Settings, tokens: dict[str, str]) -> Iterator[f.LiveApp]:
    with f.app_server(test_db, settings) as served:
        yield served


@pytest.mark.parametrize(("protocol", "subject"), [(TRANSPORT, "erin"), (LEGACY, "fay")])
async def test_a_callers_subscriptions_are_capped_across_connections(
    live: f.LiveApp, tokens: dict[str, str], protocol: str, subject: str
) -> None:
    hub = live.app.state.hub
    holder = (f.ISSUER, subject)
    first = await Socket.connected(live.url, tokens[subject], protocol)
    second = await Socket.connected(live.url, tokens[subject], protocol)
    await first.subscribe("a", CHEAP)
    await second.subscribe("b", CHEAP)
    await eventually_async(lambda: hub.held_by(holder) == PER_CALLER, "both subscriptions open")
    await second.subscribe("c", CHEAP)
    [error] = errors_of(await second.receive())
    assert error["extensions"]["code"] == "LIMIT_EXCEEDED"
    # Closing a connection gives its subscriptions back.
    await first.close()
    await eventually_async(lambda: hub.held_by(holder) == PER_CALLER - 1, "the closed one is given back")
    await second.subscribe("d", CHEAP)
    await eventually_async(lambda: hub.held_by(holder) == PER_CALLER, "a new one opens")
    await second.close()
    await eventually_async(lambda: hub.held_by(holder) == 0, "all given back")
