"""Two tenants whose rows carry marker strings, for the fuzzers: a marker in an answer says whose row it
came from and whether it was internal work.

Every text a tenant's rows hold that customers may read carries ``MK<slug>PUB<n>``; every text only its
staff may read (internal comments, escalation notes and vendors, the incident model and its tasks, the
review) carries ``MK<slug>INT<n>``. No marker is put where a mutation could legitimately move it into
public view (a model's workaround, a draft bulletin), so the fuzzers may run any mutation.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from domain.bulletins import service as bulletins
from domain.bulletins.phases import BulletinKind, BulletinPhase, ServiceStatus
from domain.db import Database
from domain.incidents import handling, major, playbooks, reviews
from domain.incidents import service as incidents
from domain.incidents.enums import ResponderRole, Visibility
from domain.intake import keys
from domain.settings import Settings
from domain.tenancy.roles import Role
from domain.webhooks import service as webhooks
from domain.webhooks.signing import SecretBox
from tests import factories as f
from tests.conftest import TestDatabase
from tests.sla.support import create_contract

SLUGS = ("acme", "globex")
ROLES = (Role.CUSTOMER, Role.AGENT, Role.MANAGER)


def marker(slug: str, kind: str, counter: itertools.count[int]) -> str:
    return f"MK{slug}{kind}{next(counter)}Z"


@dataclass(frozen=True)
class Caller:
    name: str
    tenant: str  # slug
    role: Role | None  # None: anonymous
    token: str | None

    @property
    def staff(self) -> bool:
        return self.role in (Role.AGENT, Role.MANAGER)


@dataclass(frozen=True)
class Row:
    """A row reachable by global ID, with who may see it."""

    type_name: str
    id: uuid.UUID
    tenant: str
    # The least role that sees it; None: any member.
    least: Role | None = None

    @property
    def global_id(self) -> str:
        return f.encode_id(self.type_name, self.id)

    def visible_to(self, caller: Caller) -> bool:
        if caller.role is None or caller.tenant != self.tenant:
            return False
        if self.least is None:
            return True
        rank = {Role.CUSTOMER: 0, Role.AGENT: 1, Role.MANAGER: 2}
        return rank[caller.role] >= rank[self.least]


@dataclass
class MarkedWorld:
    tenants: dict[str, uuid.UUID]
    callers: list[Caller]
    rows: list[Row]
    markers: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    def forbidden_for(self, caller: Caller) -> list[str]:
        """The markers that must never appear in an answer to ``caller``."""
        found = []
        for (slug, kind), values in self.markers.items():
            if caller.role is None:
                # Anonymous: only acme's public status page, and only its public words.
                if slug != "acme" or kind == "INT":
                    found.extend(values)
            elif slug != caller.tenant or (kind == "INT" and not caller.staff):
                found.extend(values)
        return found


async def seed(db: Database, settings: Settings, test_db: TestDatabase) -> MarkedWorld:
    counter = itertools.count(1)
    world = MarkedWorld(tenants={}, callers=[], rows=[])

    def mark(slug: str, kind: str) -> str:
        value = marker(slug, kind, counter)
        world.markers.setdefault((slug, kind), []).append(value)
        return value

    for slug in SLUGS:
        tenant = await f.create_tenant(db, slug, public_status_page=slug == "acme")
        world.tenants[slug] = tenant.id
        world.rows.append(Row("Tenant", tenant.id, slug))
        subjects = {role: f"{slug}-{role.value.lower()}" for role in ROLES}
        for role, subject in subjects.items():
            await f.add_member(db, tenant.id, subject, role)
            token = await f.mint_token(settings, db, subject)
            world.callers.append(Caller(subject, slug, role, token))
        manager = f.actor(subjects[Role.MANAGER], {tenant.id: Role.MANAGER})
        agent = f.actor(subjects[Role.AGENT], {tenant.id: Role.AGENT})
        customer = f.actor(subjects[Role.CUSTOMER], {tenant.id: Role.CUSTOMER})

        service = await f.create_service(db, manager, tenant.id, mark(slug, "PUB"), mark(slug, "PUB"))
        world.rows.append(Row("Service", service.id, slug))
        incident = await f.report(db, customer, tenant.id, mark(slug, "PUB"), mark(slug, "PUB"))
        world.rows.append(Row("Incident", incident.id, slug))
        await incidents.add_comment(
            db, agent, incident_id=incident.id, body=mark(slug, "PUB"), visibility=Visibility.PUBLIC
        )
        await incidents.add_comment(
            db, agent, incident_id=incident.id, body=mark(slug, "INT"), visibility=Visibility.INTERNAL
        )
        await handling.escalate_incident(
            db,
            agent,
            incident_id=incident.id,
            expected_version=None,
            escalation=handling.Escalation(
                note=mark(slug, "INT"),
                vendor=mark(slug, "INT"),
                vendor_ticket=mark(slug, "INT"),
                hierarchical=True,
            ),
        )
        model = await playbooks.create_incident_model(
            db,
            manager,
            playbooks.ModelSpec(
                tenant_id=tenant.id,
                name=mark(slug, "INT"),
                description=mark(slug, "INT"),
                tasks=[mark(slug, "INT"), mark(slug, "INT")],
            ),
        )
        world.rows.append(Row("IncidentModel", model.id, slug, Role.AGENT))
        await playbooks.apply_incident_model(db, agent, incident_id=incident.id, model_id=model.id)
        await major.declare_major_incident(
            db, manager, incident_id=incident.id, expected_version=None, commander=subjects[Role.MANAGER]
        )
        await major.add_responder(
            db,
            manager,
            incident_id=incident.id,
            subject=subjects[Role.AGENT],
            role=ResponderRole.TECHNICAL_LEAD,
        )
        review = await reviews.save_incident_review(
            db,
            agent,
            reviews.ReviewSpec(
                incident_id=incident.id, summary=mark(slug, "INT"), root_cause=mark(slug, "INT")
            ),
        )
        world.rows.append(Row("IncidentReview", review.id, slug, Role.AGENT))
        second = await f.report(db, agent, tenant.id, mark(slug, "PUB"))
        world.rows.append(Row("Incident", second.id, slug))

        (published,) = await bulletins.create_bulletin(
            db,
            agent,
            bulletins.NewBulletin(
                tenant_ids=[tenant.id],
                kind=BulletinKind.INCIDENT,
                title=mark(slug, "PUB"),
                body=mark(slug, "PUB"),
                phase=BulletinPhase.INVESTIGATING,
                affected=[bulletins.Affected(service.id, ServiceStatus.PARTIAL_OUTAGE)],
                publish=True,
            ),
        )
        world.rows.append(Row("Bulletin", published.id, slug))
        contract = await create_contract(
            db, manager, tenant.id, effective_from=datetime(2020, 1, 1, tzinfo=UTC), name=mark(slug, "PUB")
        )
        world.rows.append(Row("SlaContract", contract.id, slug))
        key = await keys.create_integration_key(
            db, manager, tenant_id=tenant.id, name="Monitoring", service_id=None
        )
        world.rows.append(Row("IntegrationKey", key.id, slug, Role.MANAGER))
        endpoint = await webhooks.create_webhook_endpoint(
            db,
            manager,
            tenant_id=tenant.id,
            url="http://127.0.0.1:9/incidentdesk",
            event_kinds=["CREATED"],
            box=SecretBox.for_settings(settings),
            allow_private_targets=True,
        )
        world.rows.append(Row("WebhookEndpoint", endpoint.endpoint.id, slug, Role.MANAGER))

    events = f.owner_sql(
        test_db,
        "SELECT e.id, e.visibility, t.slug FROM incident_events e JOIN tenants t ON t.id = e.tenant_id",
    )
    for event_id, visibility, slug in events:
        least = Role.AGENT if visibility == Visibility.INTERNAL.value else None
        world.rows.append(Row("IncidentEvent", event_id, slug, least))
    world.callers.append(Caller("anonymous", "", None, None))
    return world
