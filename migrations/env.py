"""Alembic environment: runs migrations over a synchronous psycopg connection as the owner role."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text

from domain.db import OWNER_ROLE, to_sync_url
from domain.tables import metadata

config = context.config


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is None:
        engine = create_engine(
            to_sync_url(config.get_main_option("sqlalchemy.url") or ""), poolclass=pool.NullPool
        )
        with engine.connect() as connection:
            _run(connection)
        engine.dispose()
    else:
        _run(connectable)


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    # Once the first revision has set up the owner role in this database, every later one runs as it,
    # so the tables belong to the owner and never to the role the service connects as.
    ready = connection.execute(
        text(
            "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :r)"
            " AND has_schema_privilege(:r, 'public', 'CREATE')"
        ),
        {"r": OWNER_ROLE},
    ).scalar()
    if ready:
        connection.execute(text(f"SET ROLE {OWNER_ROLE}"))
    context.configure(connection=connection, target_metadata=metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()
    connection.execute(text("RESET ROLE"))
    connection.commit()


run_migrations_online()
