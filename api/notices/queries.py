"""Reading the caller's notification preferences."""

from __future__ import annotations

from api.context import Context
from api.notices.types import NotificationPreferences
from api.tenancy.resolve import find_tenant_id
from domain.notices.preferences import preferences_of


async def viewer_preferences(ctx: Context, tenant: str | None) -> list[NotificationPreferences]:
    """The caller's preferences in each of their tenants, or in the one named (none when it is not one of
    theirs)."""
    principal = ctx.actor()
    tenants = ctx.tenant_ids
    if tenant is not None:
        chosen = await find_tenant_id(ctx, tenant)
        tenants = tenants & {chosen} if chosen else frozenset()
    if not tenants:
        return []
    async with ctx.read() as session:
        rows = await preferences_of(
            session, issuer=principal.issuer, subject=principal.subject, tenant_ids=tenants
        )
    return [NotificationPreferences.from_row(row) for row in rows]
