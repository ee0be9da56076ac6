"""Batch loaders of notices: whether the caller watches incidents."""

from __future__ import annotations

from collections.abc import Sequence

from api.context import Context
from domain.notices.watching import IncidentKey, watched


async def load_watching(ctx: Context, keys: Sequence[IncidentKey]) -> list[bool]:
    """For each (tenant, incident), whether the caller watches it; never for a caller without a token."""
    if ctx.principal is None:
        return [False for _ in keys]
    async with ctx.read() as session:
        found = await watched(
            session, issuer=ctx.principal.issuer, subject=ctx.principal.subject, incidents=keys
        )
    return [key in found for key in keys]
