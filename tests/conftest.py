"""Test infrastructure: one PostgreSQL per run, migrated once into a template, a copy of it per module.

The server is the embedded one from ``pgserver`` unless ``INCIDENTDESK_TEST_DATABASE_URL`` names another
(an owner/superuser URL to any database of that cluster). Migrating costs about a second and a half;
``CREATE DATABASE ... TEMPLATE`` copies the migrated schema in a fraction of that, so the run migrates
once and every module gets a copy of its own.

Under pytest-xdist (``make test`` runs ``-n 2 --dist loadfile``) the controller process starts the server
and migrates the template before any worker starts; workers receive both through ``workerinput`` and
never migrate. Run alone, the one process does both.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Engine, create_engine, pool, text
from sqlalchemy.engine import make_url

from domain.db import Database, app_url_from_owner_url, create_database, to_sync_url
from domain.migrate import upgrade

# Examples are bounded by count, never by time: a busy machine must not turn a slow example into a failure.
hypothesis_settings.register_profile(
    "incidentdesk", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
hypothesis_settings.load_profile("incidentdesk")

# Without a configured key, secrets are sealed with a key generated into the data dir: each test process
# gets a throwaway one rather than writing into the working tree.
_DATA_DIR = tempfile.mkdtemp(prefix="incidentdesk-test-data-")
os.environ["INCIDENTDESK_DATA_DIR"] = _DATA_DIR
atexit.register(shutil.rmtree, _DATA_DIR, ignore_errors=True)

_ADMIN_URL = "incidentdesk_admin_url"
_TEMPLATE = "incidentdesk_template"


@dataclass
class Cluster:
    admin_url: str

    def url_for(self, database: str) -> str:
        return make_url(self.admin_url).set(database=database).render_as_string(hide_password=False)

    def _autocommit(self, *statements: str) -> None:
        engine = create_engine(
            to_sync_url(self.admin_url), poolclass=pool.NullPool, isolation_level="AUTOCOMMIT"
        )
        try:
            with engine.connect() as connection:
                for statement in statements:
                    connection.execute(text(statement))
        finally:
            engine.dispose()

    def create_database(self, name: str, *, template: str | None = None) -> str:
        copied = f' TEMPLATE "{template}"' if template else ""
        self._autocommit(
            f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"{copied}'
        )
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        self._autocommit(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class _Run:
    """What the process that owns the run started: the server (when embedded) and the template."""

    cluster: Cluster
    template: str
    server: Any = None
    pgdata: str | None = None


def _start_run() -> _Run:
    configured = os.environ.get("INCIDENTDESK_TEST_DATABASE_URL")
    server = pgdata = None
    if configured:
        cluster = Cluster(configured)
    else:
        import pgserver

        pgdata = tempfile.mkdtemp(prefix="incidentdesk-test-pg-")
        server = pgserver.get_server(pgdata, cleanup_mode="stop")
        cluster = Cluster(server.get_uri("postgres"))
    template = f"t_template_{uuid.uuid4().hex[:8]}"
    upgrade(cluster.create_database(template))
    return _Run(cluster=cluster, template=template, server=server, pgdata=pgdata)


def _stop_run(run: _Run) -> None:
    try:
        run.cluster.drop_database(run.template)
    finally:
        if run.server is not None:
            run.server.cleanup()
        if run.pgdata is not None:
            shutil.rmtree(run.pgdata, ignore_errors=True)


_run: _Run | None = None


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    global _run
    if not _is_worker(session.config) and not session.config.option.collectonly:
        _run = _start_run()


def pytest_configure_node(node: Any) -> None:
    """xdist: every worker uses the controller's server and template."""
    assert _run is not None
    node.workerinput[_ADMIN_URL] = _run.cluster.admin_url
    node.workerinput[_TEMPLATE] = _run.template


def pytest_unconfigure(config: pytest.Config) -> None:
    global _run
    if _run is not None:
        _stop_run(_run)
        _run = None


def _run_of(config: pytest.Config) -> tuple[Cluster, str]:
    if _is_worker(config):
        workerinput: dict[str, Any] = config.workerinput  # type: ignore[attr-defined]
        return Cluster(workerinput[_ADMIN_URL]), workerinput[_TEMPLATE]
    if _run is None:
        raise RuntimeError("the test PostgreSQL was not started (a collect-only run starts none)")
    return _run.cluster, _run.template


@pytest.fixture(scope="session")
def cluster(pytestconfig: pytest.Config) -> Cluster:
    return _run_of(pytestconfig)[0]


@pytest.fixture(scope="session")
def template_name(pytestconfig: pytest.Config) -> str:
    """The migrated database every module's database is copied from."""
    return _run_of(pytestconfig)[1]


@dataclass
class TestDatabase:
    """A migrated database of its own: ``owner_url`` bypasses nothing but owns everything;
    ``app_url`` is the application role, subject to row-level security."""

    __test__ = False  # a fixture's value, not a test class

    name: str
    owner_url: str
    app_url: str


def fresh_database(cluster: Cluster, label: str, *, template: str | None = None) -> TestDatabase:
    """A database of its own: a copy of the migrated template, or migrated from nothing without one."""
    name = f"t_{label}_{uuid.uuid4().hex[:8]}".lower()
    owner_url = cluster.create_database(name, template=template)
    if template is None:
        upgrade(owner_url)
    return TestDatabase(name=name, owner_url=owner_url, app_url=app_url_from_owner_url(owner_url))


@pytest.fixture(scope="module")
def test_db(cluster: Cluster, template_name: str, request: pytest.FixtureRequest) -> Iterator[TestDatabase]:
    label = request.module.__name__.rsplit(".", 1)[-1][:30]
    database = fresh_database(cluster, label, template=template_name)
    yield database
    cluster.drop_database(database.name)


@pytest.fixture(scope="module")
def owner(test_db: TestDatabase) -> Iterator[Engine]:
    """A synchronous engine on the module's database as its owner: row-level security does not apply."""
    from tests import factories  # imported late: the factories import this module

    engine = factories.owner_engine(test_db)
    yield engine
    engine.dispose()


@pytest_asyncio.fixture(scope="module")
async def db(test_db: TestDatabase) -> AsyncIterator[Database]:
    """The runtime pool, connected as the application role."""
    database = create_database(test_db.app_url, pool_size=5)
    yield database
    await database.dispose()
