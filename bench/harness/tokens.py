"""Real bearer tokens, minted by the built-in issuer of the benchmark database (as `incidentdesk token`
does): each database keeps its own signing key, so a token works only against the server on that
database."""

from __future__ import annotations

import asyncio

from harness import ISSUER


async def _mint(app_url: str, subject: str, ttl_seconds: int) -> str:
    from auth import Authority
    from domain.db import create_database
    from domain.settings import Settings

    database = create_database(app_url, pool_size=1)
    authority = Authority(Settings(app_database_url=app_url, public_url=ISSUER), database)
    try:
        return await authority.mint(subject, ttl_seconds=ttl_seconds)
    finally:
        await authority.aclose()
        await database.dispose()


def mint(app_url: str, subject: str, ttl_seconds: int = 6 * 3600) -> str:
    return asyncio.run(_mint(app_url, subject, ttl_seconds))
