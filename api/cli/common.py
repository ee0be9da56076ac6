"""What the commands share: exit statuses, the migrated database, and the runtime a command works in."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from domain.db import (
    Database,
    Scope,
    app_url_from_owner_url,
    create_database,
    owner_database_url,
)
from domain.errors import Refused
from domain.settings import Settings
from domain.tenancy.models import Tenant
from domain.tenancy.service import tenant_by_slug

log = logging.getLogger("incidentdesk.cli")


EXIT_FAILURE = 1


EXIT_USAGE = 2


class UsageError(Exception):
    """Input the command cannot act on: reported in one line, exit status 2."""


def refusal_message(refused: Refused) -> str:
    parts = []
    for problem in refused.problems:
        field = [f for f in problem.field or () if f != "input"]
        parts.append(f"{'.'.join(field)}: {problem.message}" if field else problem.message)
    return "; ".join(parts)


def migrate_database(owner_url: str) -> list[str]:
    """Upgrade to every head under a cluster-wide lock; returns the revisions now current."""
    from domain.migrate import current_revisions, head_revisions, migration_lock, upgrade

    if current_revisions(owner_url) == head_revisions():
        return sorted(current_revisions(owner_url))
    with migration_lock(owner_url):
        log.info("migrating the database to %s", ", ".join(sorted(head_revisions())))
        upgrade(owner_url)
    return sorted(current_revisions(owner_url))


def prepared_owner_url(settings: Settings) -> str:
    """The owner URL (starting the embedded server when none is configured), migrated to every head."""
    if not settings.database_url:
        log.debug("starting (or reusing) the embedded PostgreSQL in %s", settings.data_dir.resolve())
    owner_url = owner_database_url(settings)
    migrate_database(owner_url)
    return owner_url


def app_url(settings: Settings, owner_url: str) -> str:
    return settings.app_database_url or app_url_from_owner_url(owner_url)


@dataclass
class Runtime:
    settings: Settings
    database: Database
    # auth.Authority; typed loosely so that `--help` does not pay for importing the auth stack.
    authority: Any


@asynccontextmanager
async def runtime(settings: Settings, owner_url: str) -> AsyncIterator[Runtime]:
    from auth import Authority

    database = create_database(app_url(settings, owner_url), pool_size=2)
    authority = Authority(settings, database)
    try:
        yield Runtime(settings, database, authority)
    finally:
        await authority.aclose()
        await database.dispose()


async def tenant_for_slug(database: Database, slug: str) -> Tenant:
    async with database.transaction(Scope()) as session:
        tenant = await tenant_by_slug(session, slug.strip().lower())
    if tenant is None:
        raise UsageError(f"no tenant with slug {slug!r}")
    return tenant


def print_json(value: dict[str, Any]) -> None:
    print(json.dumps(value, indent=None, separators=(", ", ": ")))
