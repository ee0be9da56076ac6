"""Migrations: up, down, up again on an empty database; models and migrations agree."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, pool

from domain.db import to_sync_url
from domain.migrate import current_revision, downgrade, head_revision, upgrade
from domain.tables import metadata
from tests.conftest import Cluster


def test_up_down_up_on_an_empty_database(cluster: Cluster) -> None:
    url = cluster.create_database("t_migrations_roundtrip")
    try:
        upgrade(url)
        assert current_revision(url) == head_revision()
        downgrade(url, "base")
        assert current_revision(url) is None
        upgrade(url)
        assert current_revision(url) == head_revision()
    finally:
        cluster.drop_database("t_migrations_roundtrip")


def test_models_and_migrations_agree(test_db) -> None:  # type: ignore[no-untyped-def]
    engine = create_engine(to_sync_url(test_db.owner_url), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    engine.dispose()
    assert differences == []
