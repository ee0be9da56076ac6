"""The data the subscribers follow, written through the domain's use cases as the command line does.

Per tenant: an AGENT and a CUSTOMER member (tokens minted by the built-in issuer), a MANAGER who adds
one service, one incident of that service that the comments go to, and one published bulletin in
IDENTIFIED that affects the service: every bulletin step afterwards flips the service's status, so it is
one bulletin change, one status change and one new public page at once. The tenant's public status page
is on.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from api.relay import encode_id
from auth import Authority
from domain.bulletins import service as bulletins
from domain.bulletins.phases import BulletinKind, BulletinPhase, ServiceStatus
from domain.catalog import service as catalog
from domain.db import create_database
from domain.incidents import service as incidents
from domain.settings import Settings
from domain.tenancy import service as tenancy
from domain.tenancy.roles import Role as TenancyRole
from live.plan import Role, tenant_slug

ISSUER = "https://incidentdesk.bench"


@dataclass(frozen=True)
class Staff:
    """A member of the seeded tenants, as the domain's use cases see a caller."""

    tenant_ids: frozenset[uuid.UUID]
    role: TenancyRole
    subject: str
    issuer: str = ISSUER
    is_operator: bool = False
    client_id: str | None = None

    def role_in(self, tenant_id: uuid.UUID) -> TenancyRole | None:
        return self.role if tenant_id in self.tenant_ids else None

    def can(self, scope: str, tenant_id: uuid.UUID) -> bool:
        return tenant_id in self.tenant_ids


@dataclass(frozen=True)
class Seeded:
    """One tenant's global IDs, as the API's mutations take them."""

    slug: str
    incident: str
    service: str
    bulletin: str


@dataclass(frozen=True)
class World:
    tenants: list[Seeded]
    # (tenant index, role) -> bearer token
    tokens: dict[tuple[int, Role], str]


async def seed(app_url: str, count: int) -> World:
    db = create_database(app_url, pool_size=2)
    settings = Settings(app_database_url=app_url, public_url=ISSUER)
    authority = Authority(settings, db)
    seeded: list[Seeded] = []
    tokens: dict[tuple[int, Role], str] = {}
    try:
        for index in range(count):
            slug = tenant_slug(index, count)
            tenant = await tenancy.create_tenant(
                db, None, slug=slug, name=f"Bench {index}", timezone="UTC", public_status_page=True
            )
            members = {
                Role.AGENT: (f"{slug}-agent", TenancyRole.AGENT),
                Role.CUSTOMER: (f"{slug}-customer", TenancyRole.CUSTOMER),
            }
            for subject, role in [*members.values(), (f"{slug}-manager", TenancyRole.MANAGER)]:
                await tenancy.add_member(
                    db, None, tenant_id=tenant.id, issuer=ISSUER, subject=subject, role=role
                )
            scope = frozenset({tenant.id})
            manager = Staff(scope, TenancyRole.MANAGER, f"{slug}-manager")
            agent = Staff(scope, TenancyRole.AGENT, f"{slug}-agent")
            service = await catalog.create_service(
                db, manager, tenant_id=tenant.id, name=f"Checkout {index}", description=None
            )
            incident = await incidents.report_incident(
                db,
                agent,
                incidents.NewIncident(
                    tenant_id=tenant.id, title="Benchmark", description="", service_id=service.id
                ),
            )
            [bulletin] = await bulletins.create_bulletin(
                db,
                agent,
                bulletins.NewBulletin(
                    tenant_ids=[tenant.id],
                    kind=BulletinKind.INCIDENT,
                    title=f"Checkout {index} is slow",
                    body="Looking into it.",
                    phase=BulletinPhase.IDENTIFIED,
                    affected=[bulletins.Affected(service.id, ServiceStatus.MAJOR_OUTAGE)],
                    publish=True,
                ),
            )
            seeded.append(
                Seeded(
                    slug,
                    encode_id("Incident", incident.id),
                    encode_id("Service", service.id),
                    encode_id("Bulletin", bulletin.id),
                )
            )
            for role, (subject, _) in members.items():
                tokens[(index, role)] = await authority.mint(subject, ttl_seconds=3600)
        return World(seeded, tokens)
    finally:
        await authority.aclose()
        await db.dispose()
