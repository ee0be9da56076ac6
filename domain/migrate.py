"""Running and checking Alembic migrations (the scripts live in the top-level ``migrations`` directory)."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool, text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.db import to_sync_url

# Serialises migrations across processes (replicas starting together); any constant nobody else uses.
MIGRATION_LOCK_ID = 0x1D_4D49_4752_4154


def migrations_dir() -> Path:
    spec = importlib.util.find_spec("migrations")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the migrations package is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def alembic_config(owner_url: str) -> Config:
    directory = migrations_dir()
    config = Config(str(directory / "alembic.ini"))
    config.set_main_option("script_location", str(directory))
    config.set_main_option("sqlalchemy.url", owner_url.replace("%", "%%"))
    return config


def upgrade(owner_url: str, revision: str = "heads") -> None:
    command.upgrade(alembic_config(owner_url), revision)


def downgrade(owner_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(owner_url), revision)


def head_revisions() -> frozenset[str]:
    """The newest revision of every branch (features may add migrations side by side until merged)."""
    return frozenset(ScriptDirectory(str(migrations_dir())).get_heads())


def current_revisions(owner_or_app_url: str) -> frozenset[str]:
    engine = create_engine(to_sync_url(owner_or_app_url), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            return frozenset(MigrationContext.configure(connection).get_current_heads())
    finally:
        engine.dispose()


@contextmanager
def migration_lock(owner_url: str) -> Iterator[None]:
    """Held while migrating: a cluster-wide advisory lock, so that replicas starting together migrate one
    after the other (the later ones find the schema at its heads already)."""
    engine = create_engine(to_sync_url(owner_url), poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as lock:
            lock.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
            try:
                yield
            finally:
                lock.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
    finally:
        engine.dispose()


async def applied_revisions(session: AsyncSession) -> list[str]:
    """The revisions the database's schema is at, sorted (the readiness probe compares them to the heads)."""
    rows = await session.execute(text("SELECT version_num FROM alembic_version"))
    return sorted(row[0] for row in rows)
