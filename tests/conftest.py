"""Test infrastructure: one PostgreSQL per run, a fresh migrated database per module.

The server is the embedded one from ``pgserver`` unless ``INCIDENTDESK_TEST_DATABASE_URL`` names another
(an owner/superuser URL to any database of that cluster; each module gets a database of its own there).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url

from domain.db import Database, app_url_from_owner_url, create_database, to_sync_url
from domain.migrate import upgrade


@dataclass
class Cluster:
    admin_url: str

    def url_for(self, database: str) -> str:
        return make_url(self.admin_url).set(database=database).render_as_string(hide_password=False)

    def create_database(self, name: str) -> str:
        engine = create_engine(
            to_sync_url(self.admin_url), poolclass=pool.NullPool, isolation_level="AUTOCOMMIT"
        )
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        engine = create_engine(
            to_sync_url(self.admin_url), poolclass=pool.NullPool, isolation_level="AUTOCOMMIT"
        )
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    configured = os.environ.get("INCIDENTDESK_TEST_DATABASE_URL")
    if configured:
        yield Cluster(configured)
        return
    import pgserver

    pgdata: Path = tmp_path_factory.mktemp("pg")
    server = pgserver.get_server(str(pgdata), cleanup_mode="stop")
    try:
        yield Cluster(server.get_uri("postgres"))
    finally:
        server.cleanup()


@dataclass
class TestDatabase:
    """A migrated database of its own: ``owner_url`` bypasses nothing but owns everything;
    ``app_url`` is the application role, subject to row-level security."""

    name: str
    owner_url: str
    app_url: str


def fresh_database(cluster: Cluster, label: str) -> TestDatabase:
    name = f"t_{label}_{uuid.uuid4().hex[:8]}".lower()
    owner_url = cluster.create_database(name)
    upgrade(owner_url)
    return TestDatabase(name=name, owner_url=owner_url, app_url=app_url_from_owner_url(owner_url))


@pytest.fixture(scope="module")
def test_db(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[TestDatabase]:
    label = request.module.__name__.rsplit(".", 1)[-1][:30]
    database = fresh_database(cluster, label)
    yield database
    cluster.drop_database(database.name)


@pytest_asyncio.fixture(scope="module")
async def db(test_db: TestDatabase) -> AsyncIterator[Database]:
    """The runtime pool, connected as the application role."""
    database = create_database(test_db.app_url, pool_size=5)
    yield database
    await database.dispose()
