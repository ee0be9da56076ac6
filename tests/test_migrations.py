"""Migrations: up, down, up again on an empty database; models and migrations agree."""

from __future__ import annotations

import uuid

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, pool, text

from domain.db import to_sync_url
from domain.migrate import current_revisions, downgrade, head_revisions, upgrade
from domain.tables import metadata
from tests.conftest import Cluster


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
