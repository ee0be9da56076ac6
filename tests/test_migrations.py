"""Migrations: up, down, up again on an empty database; models and migrations agree."""

from __future__ import annotations

import uuid

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool, text

from domain.db import to_sync_url
from domain.migrate import current_revisions, downgrade, head_revisions, migrations_dir, upgrade
from domain.tables import metadata
from tests.conftest import Cluster
from tests.test_tenancy_rls import fill_every_tenant_table


def test_up_down_up_on_an_empty_database(cluster: Cluster) -> None:
    name = f"t_migrations_roundtrip_{uuid.uuid4().hex[:8]}"
    url = cluster.create_database(name)
    try:
        upgrade(url)
        assert current_revisions(url) == head_revisions()
        downgrade(url, "base")
        assert current_revisions(url) == frozenset()
        upgrade(url)
        assert current_revisions(url) == head_revisions()
    finally:
        cluster.drop_database(name)


# Expression indexes live in migrations only: Alembic cannot compare their SQL text reliably.
EXPRESSION_INDEXES = {"ix_incidents_search"}


def _compared(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    return not (type_ == "index" and name in EXPRESSION_INDEXES)


def test_models_and_migrations_agree(test_db) -> None:  # type: ignore[no-untyped-def]
    engine = create_engine(to_sync_url(test_db.owner_url), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": _compared}
        )
        differences = compare_metadata(context, metadata)
        present = {
            row[0]
            for row in connection.execute(
                text("SELECT indexname FROM pg_indexes WHERE indexname = ANY(:names)"),
                {"names": list(EXPRESSION_INDEXES)},
            )
        }
    engine.dispose()
    assert differences == []
    assert present == EXPRESSION_INDEXES


def test_every_revision_upgrades_a_database_holding_data(cluster: Cluster) -> None:
    """Revisions that move data (a backfill, a copy into a new table) meet rows in every tenant-owned
    table, of several tenants, as a running service's database has them: row-level security is forced
    on the owner too, so a migration that forgets it updates nothing and then fails or loses data."""
    name = f"t_migrations_data_{uuid.uuid4().hex[:8]}"
    url = cluster.create_database(name)
    engine = create_engine(to_sync_url(url), poolclass=pool.NullPool)
    try:
        revisions = [
            r.revision for r in reversed(list(ScriptDirectory(str(migrations_dir())).walk_revisions()))
        ]
        for number, revision in enumerate(revisions):
            upgrade(url, revision)
            with engine.begin() as connection:
                fill_every_tenant_table(connection, (f"m{number}-a", f"m{number}-b"))
        assert current_revisions(url) == head_revisions()
        with engine.connect() as connection:
            assert (
                connection.execute(text("SELECT count(*) FROM work_log WHERE worked_at IS NULL")).scalar()
                == 0
            )
            assert connection.execute(text("SELECT count(*) FROM billing_periods")).scalar() > 0
    finally:
        engine.dispose()
        cluster.drop_database(name)
