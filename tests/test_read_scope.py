"""Compiled reads set their tenant scope on the pooled connection, not per transaction: what one read
leaves on a connection must never be what the next reader sees, whichever way it reads."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest_asyncio
from sqlalchemy import func, select

from domain.db import Database, Scope, create_database
from domain.incidents.models import Incident
from domain.tenancy.roles import Role
from tests import factories as f
from tests.conftest import TestDatabase

COUNT = "SELECT count(*)::text FROM incidents"


@pytest_asyncio.fixture(scope="module")
async def one_connection(test_db: TestDatabase) -> AsyncIterator[Database]:
    """A pool of one connection: every read below meets what the previous one left on it."""
    database = create_database(test_db.app_url, pool_size=1, pool_overflow=0)
    yield database
    await database.dispose()


@pytest_asyncio.fixture(scope="module")
async def tenants(db: Database) -> tuple[uuid.UUID, uuid.UUID]:
    a, b = await f.create_tenant(db, "scope-a"), await f.create_tenant(db, "scope-b")
    for tenant, count in ((a, 2), (b, 3)):
        actor = f.actor("amy", {tenant.id: Role.AGENT})
        await f.add_member(db, tenant.id, "amy", Role.AGENT)
        for n in range(count):
            await f.report(db, actor, tenant.id, f"incident {n}")
    return a.id, b.id


async def _session_count(database: Database, scope: Scope) -> int:
    async with database.transaction(scope) as session:
        return int(await session.scalar(select(func.count()).select_from(Incident)) or 0)


async def test_each_read_sees_its_own_scope_on_a_shared_connection(
    one_connection: Database, tenants: tuple[uuid.UUID, uuid.UUID]
) -> None:
    a, b = tenants
    assert await one_connection.read_json(Scope.of([a]), COUNT, []) == "2"
    # A session transaction on the connection the read left scoped to a: its own scope, b, holds.
    assert await _session_count(one_connection, Scope.of([b])) == 3
    assert await _session_count(one_connection, Scope()) == 0
    assert await one_connection.read_json(Scope.of([b]), COUNT, []) == "3"
    assert await one_connection.read_json(Scope.of([a, b]), COUNT, []) == "5"
    assert await one_connection.read_json(Scope(), COUNT, []) == "0"
    assert await one_connection.read_json(Scope.of([a]), COUNT, []) == "2"
