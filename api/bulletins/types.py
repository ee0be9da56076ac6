"""GraphQL types of bulletins and the public status: thin classes over the domain's rows.

``Bulletin.from_row`` names the fields that differ from the row's (``api.mapping`` copies the others);
relations resolve through the request's loaders, or from data already read (``preloaded``) where the
caller has no tenant scope, as on the anonymous public status page.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import strawberry

from api import fields
from api.bulletins import loaders
from api.catalog.types import Service, ServiceStatus
from api.context import Context, Info
from api.incidents import loaders as incident_loaders
from api.incidents.queries import readable_tenants
from api.incidents.types import Incident
from api.mapping import mapped
from api.relay import Connection, Node, encode_id
from api.tenancy.types import InTenant
from domain.bulletins import models as m
from domain.bulletins import phases
from domain.bulletins.phases import BulletinKind as BulletinKindValue
from domain.bulletins.phases import BulletinPhase as BulletinPhaseValue
from domain.bulletins.phases import ServiceStatus as ServiceStatusValue
from domain.bulletins.public import PublicBulletin, PublicView
from domain.catalog import models as catalog
from domain.tenancy.roles import Scope as OAuthScope

# strawberry.enum marks a class in place and returns it: each GraphQL enum is the domain's class itself,
# and the names below are plain aliases of those classes, which annotations can use as types.
strawberry.enum(BulletinKindValue, name="BulletinKind")
strawberry.enum(BulletinPhaseValue, name="BulletinPhase")
BulletinKind = BulletinKindValue
BulletinPhase = BulletinPhaseValue


def bulletin_readers(ctx: Context) -> frozenset[uuid.UUID]:
    """Tenants whose bulletins the caller may read: membership and the bulletins:read scope."""
    principal = ctx.principal
    if principal is None:
        return frozenset()
    return frozenset(t for t in ctx.tenant_ids if principal.can(OAuthScope.BULLETINS_READ, t))


def may_see(ctx: Context, tenant_id: uuid.UUID, published: bool) -> bool:
    """Drafts (unpublished bulletins) are for the provider's staff; CUSTOMER members see published ones."""
    return tenant_id in bulletin_readers(ctx) and (published or ctx.sees_internal(tenant_id))


@strawberry.type(name="AffectedService")
class AffectedService:
    service: Service
    status: ServiceStatus


# The author shown on public status pages, in place of the staff member's subject.
PUBLIC_AUTHOR = "status team"


@strawberry.type(name="BulletinUpdate")
class BulletinUpdate:
    phase: BulletinPhase
    body: str
    author: str
    at: datetime

    @classmethod
    def from_row(cls, row: m.BulletinUpdate) -> BulletinUpdate:
        return mapped(cls, row)


@dataclass(frozen=True)
class Preloaded:
    updates: list[m.BulletinUpdate]
    affected: list[tuple[catalog.Service, ServiceStatusValue]]
    # The services' own current statuses, for callers without a tenant scope to load them in.
    statuses: dict[uuid.UUID, ServiceStatusValue]


def _affected(
    pairs: list[tuple[catalog.Service, ServiceStatusValue]], statuses: dict[uuid.UUID, ServiceStatusValue]
) -> list[AffectedService]:
    return [
        AffectedService(service=Service.from_row(s, statuses.get(s.id)), status=status) for s, status in pairs
    ]


@strawberry.type(name="Bulletin")
class Bulletin(Node, InTenant):
    kind: BulletinKind
    title: str
    phase: BulletinPhase
    published: bool
    active: bool = strawberry.field(description="Published and not RESOLVED/COMPLETED")
    scheduled_start: datetime | None
    scheduled_end: datetime | None
    published_at: datetime | None
    updated_at: datetime
    broadcast_id: strawberry.ID = strawberry.field(
        description="Shared by the rows of one createBulletin: one per tenant of a provider-wide bulletin"
    )
    row: strawberry.Private[m.Bulletin]
    preloaded: strawberry.Private[Preloaded | None] = None

    @classmethod
    def from_row(cls, row: m.Bulletin, preloaded: Preloaded | None = None) -> Bulletin:
        return mapped(
            cls,
            row,
            id=encode_id("Bulletin", row.id),
            active=phases.is_active(row.published, row.phase),
            broadcast_id=strawberry.ID(str(row.broadcast_id)),
            row=row,
            preloaded=preloaded,
        )

    @classmethod
    def from_public(cls, item: PublicBulletin, statuses: dict[uuid.UUID, ServiceStatusValue]) -> Bulletin:
        return cls.from_row(item.bulletin, Preloaded(item.updates, item.affected, statuses))

    @property
    def key(self) -> loaders.Key:
        return (self.row.tenant_id, self.row.id)

    @fields.field(description="Null for anonymous visitors and for callers who may not read it")
    async def incident(self, info: Info) -> Incident | None:
        ctx = info.context
        if self.row.incident_id is None or ctx.principal is None:
            return None
        row = await ctx.loader(incident_loaders.load_incidents).load(self.row.incident_id)
        if row is None or row.tenant_id not in readable_tenants(ctx):
            return None
        return Incident.from_row(row)

    @strawberry.field
    async def affected_services(self, info: Info) -> list[AffectedService]:
        if self.preloaded is not None:
            return _affected(self.preloaded.affected, self.preloaded.statuses)
        rows = await info.context.loader(loaders.load_affected).load(self.key)
        return _affected(rows, {})

    @fields.field(description="Newest first")
    async def updates(self, info: Info) -> list[BulletinUpdate]:
        rows = (
            self.preloaded.updates
            if self.preloaded is not None
            else await info.context.loader(loaders.load_updates).load(self.key)
        )
        updates = [BulletinUpdate.from_row(r) for r in rows]
        if info.context.principal is None:
            # An anonymous status page visitor learns what happened, not which member of staff wrote it.
            for update in updates:
                update.author = PUBLIC_AUTHOR
        return updates


@strawberry.type(name="BulletinConnection")
class BulletinConnection(Connection[Bulletin]):
    pass


@strawberry.type(name="PublicStatus", description="What an anonymous visitor of a public status page may see")
class PublicStatus:
    tenant_name: str
    tenant_slug: str
    overall: ServiceStatus
    services: list[Service]
    active_bulletins: list[Bulletin]
    # What a visitor sees of it (``PublicView.fingerprint``): a page is not sent again unchanged.
    fingerprint: strawberry.Private[tuple[object, ...]] = ()

    @classmethod
    def from_view(cls, view: PublicView) -> PublicStatus:
        statuses = {s.id: status for s, status in view.services}
        return cls(
            tenant_name=view.tenant.name,
            tenant_slug=view.tenant.slug,
            overall=view.overall,
            services=[Service.from_row(s, status) for s, status in view.services],
            active_bulletins=[Bulletin.from_public(b, statuses) for b in view.bulletins],
            fingerprint=view.fingerprint(),
        )


@strawberry.type(name="ServiceStatusChange")
class ServiceStatusChange:
    service: Service
    status: ServiceStatus
    at: datetime
