"""The references between tenants, which the catalog cannot show: they are no foreign keys.

A provider's major incident names the tenants it affects (``incidents.affected_tenant_ids``), and each
child incident in those tenants names its parent (``incident_links.parent_tenant_id, parent_id``); only
``affectTenants`` links across tenants. Each side is its own tenant's rows:

- Deleting a customer tenant deletes its children and their links. The provider's parent incident stays,
  and only forgets the deleted tenant in its list: every change to the parent takes the counters of the
  tenants it names (``relations.lock_family_counters``), and a tenant that is gone has none to take.
  Deleting a provider leaves its customers' links naming a parent that is gone, as a child whose parent
  cannot be found already reads; importing the provider again gives them their parent back.
- Importing restores a link when its other side exists in the database: a child's link to a parent
  incident that is not there is dropped (the child stays, as a plain incident), and the parent of a link
  that is kept names the imported tenant again. A parent's list keeps only the tenants that exist.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.db import widen_scope
from domain.incidents.models import Incident, IncidentLink

LINKS_TABLE = IncidentLink.__tablename__


async def admit_links(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The child links of ``rows`` (``incident_links`` rows, ids as written) whose parent incident exists;
    the others are left out. Parents in other tenants are looked up by widening the transaction's scope
    to their tenants, on purpose."""
    parents = {(uuid.UUID(r["parent_tenant_id"]), uuid.UUID(r["parent_id"])) for r in rows}
    if not parents:
        return []
    await widen_scope(session, {tenant for tenant, _ in parents})
    found = await session.execute(
        select(Incident.tenant_id, Incident.id).where(tuple_(Incident.tenant_id, Incident.id).in_(parents))
    )
    existing = {(tenant, incident) for tenant, incident in found}
    return [r for r in rows if (uuid.UUID(r["parent_tenant_id"]), uuid.UUID(r["parent_id"])) in existing]


async def relink_parents(session: AsyncSession, rows: Sequence[dict[str, Any]], tenant_id: uuid.UUID) -> None:
    """The parents in other tenants of the imported links (``rows``, admitted) name the imported tenant
    among those they affect again, at the end of their list (their scope was widened by ``admit_links``)."""
    parents = {
        (uuid.UUID(r["parent_tenant_id"]), uuid.UUID(r["parent_id"]))
        for r in rows
        if uuid.UUID(r["parent_tenant_id"]) != tenant_id
    }
    if not parents:
        return
    await session.execute(
        update(Incident)
        .where(
            tuple_(Incident.tenant_id, Incident.id).in_(parents),
            ~Incident.affected_tenant_ids.any(tenant_id),  # type: ignore[arg-type]
        )
        .values(affected_tenant_ids=func.array_append(Incident.affected_tenant_ids, tenant_id))
    )


async def forget_tenant(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    """Before the tenant is deleted: the parents of its links in other tenants stop naming it among the
    tenants they affect. Returns how many parent incidents changed."""
    other_tenants = await session.scalars(
        select(IncidentLink.parent_tenant_id)
        .where(IncidentLink.tenant_id == tenant_id, IncidentLink.parent_tenant_id != tenant_id)
        .distinct()
    )
    parent_tenants = list(other_tenants)
    if not parent_tenants:
        return 0
    await widen_scope(session, parent_tenants)
    result = await session.execute(
        update(Incident)
        .where(
            Incident.tenant_id.in_(parent_tenants),
            Incident.affected_tenant_ids.any(tenant_id),  # type: ignore[arg-type]
        )
        .values(affected_tenant_ids=func.array_remove(Incident.affected_tenant_ids, tenant_id))
    )
    return int(getattr(result, "rowcount", 0) or 0)


# A parent's affected tenants that exist; the order they were named in kept.
_EXISTING_AFFECTED = text(
    """
    UPDATE incidents AS i
    SET affected_tenant_ids = ARRAY(
        SELECT a.id FROM unnest(i.affected_tenant_ids) WITH ORDINALITY AS a(id, position)
        WHERE EXISTS (SELECT 1 FROM tenants t WHERE t.id = a.id)
        ORDER BY a.position
    )
    WHERE i.tenant_id = :t
      AND EXISTS (
        SELECT 1 FROM unnest(i.affected_tenant_ids) AS a(id)
        WHERE NOT EXISTS (SELECT 1 FROM tenants t WHERE t.id = a.id)
      )
    """
)


async def forget_missing_tenants(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    """The imported tenant's parent incidents stop naming affected tenants the database does not have.
    Returns how many incidents changed."""
    result = await session.execute(_EXISTING_AFFECTED, {"t": tenant_id})
    return int(getattr(result, "rowcount", 0) or 0)
