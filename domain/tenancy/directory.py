"""Tenants by slug: every request naming a tenant by its slug (``X-Tenant: acme``) needs its id.

Slugs are cached per replica under the access notices' rules (``domain/access.py``): a tenant created,
changed or deleted anywhere is heard at commit and the cache starts over. Only found tenants are kept,
so an unknown slug costs its lookup each time (the per-principal rate limit bounds how often).
"""

from __future__ import annotations

import uuid

from sqlalchemy import select

from domain.access import AccessCache, AccessNotices
from domain.db import Database, Scope
from domain.tenancy.models import Tenant
from domain.tenancy.service import SLUG


class TenantDirectory:
    def __init__(self, db: Database, notices: AccessNotices | None = None) -> None:
        self.db = db
        self._ids: AccessCache[str, uuid.UUID] | None = AccessCache(notices) if notices else None

    async def id_of(self, slug: str) -> uuid.UUID | None:
        slug = slug.lower()
        if not SLUG.match(slug):  # no tenant has it; and text like a NUL must not reach the database
            return None
        if self._ids is not None and (known := self._ids.get(slug)) is not None:
            return known
        generation = self._ids.generation() if self._ids is not None else 0
        # The tenants table is a reference table: no scope is needed to read it.
        async with self.db.transaction(Scope()) as session:
            found: uuid.UUID | None = await session.scalar(select(Tenant.id).where(Tenant.slug == slug))
        if found is not None and self._ids is not None:
            self._ids.put(slug, found, generation)
        return found
