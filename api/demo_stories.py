"""The demo's incidents: each tenant's stories, told through the use cases as its people would.

A tenant's stories are seeded only while it has no incident, so a second run never duplicates them.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from api import demo_work
from auth import Principal
from domain.billing import worklog
from domain.db import Database, Scope
from domain.incidents import handling, reads
from domain.incidents import service as incidents
from domain.incidents.enums import HoldReason, Impact, ResolutionCode, Urgency, Visibility
from domain.incidents.models import Incident
from domain.notices import watching
from domain.tenancy.models import Tenant

# ---------------------------------------------------------------- incidents


async def incident_count(db: Database, tenant: Tenant) -> int:
    async with db.transaction(Scope.of([tenant.id])) as session:
        return await reads.incident_count(session, tenant_id=tenant.id)


@dataclass(frozen=True)
class Cast:
    """Who does what in the seeded stories."""

    customer: Principal | None
    agent: Principal
    manager: Principal


def _new(
    tenant: Tenant,
    service_id: uuid.UUID,
    title: str,
    description: str,
    impact: Impact = Impact.MEDIUM,
    urgency: Urgency = Urgency.MEDIUM,
    category: str | None = None,
) -> incidents.NewIncident:
    return incidents.NewIncident(
        tenant_id=tenant.id,
        title=title,
        description=description,
        service_id=service_id,
        impact=impact,
        urgency=urgency,
        category=category,
    )


async def _pick_up(db: Database, agent: Principal, incident: Incident, *, group: str, public: str) -> None:
    """An agent takes an incident: acknowledge, assign to self, a public update and an internal note."""
    await incidents.acknowledge_incident(db, agent, incident_id=incident.id, expected_version=None)
    await incidents.assign_incident(
        db,
        agent,
        incident_id=incident.id,
        expected_version=None,
        assignee=agent.subject,
        assignment_group=group,
    )
    await incidents.add_comment(db, agent, incident_id=incident.id, body=public, visibility=Visibility.PUBLIC)
    await incidents.add_comment(
        db,
        agent,
        incident_id=incident.id,
        body="Checked the dashboards; notes follow here.",
        visibility=Visibility.INTERNAL,
    )


async def _resolve(db: Database, agent: Principal, incident: Incident, notes: str, minutes: int) -> None:
    await incidents.acknowledge_incident(db, agent, incident_id=incident.id, expected_version=None)
    await worklog.log_work(db, agent, incident_id=incident.id, minutes=minutes, note="Diagnosis and fix")
    await handling.resolve_incident(
        db, agent, incident_id=incident.id, expected_version=None, code=ResolutionCode.FIXED, notes=notes
    )


async def seed_acme(db: Database, tenant: Tenant, cast: Cast, services: Mapping[str, uuid.UUID]) -> int:
    """In progress (P1), on hold awaiting the customer, new, resolved, and closed with a rating."""
    reporter = cast.customer or cast.agent
    checkout = await incidents.report_incident(
        db,
        reporter,
        _new(
            tenant,
            services["Payments"],
            "Checkout fails with an error for some customers",
            "Since about 09:40 roughly one in five orders ends on an error page at payment.",
            Impact.HIGH,
            Urgency.HIGH,
        ),
    )
    # The service manager follows the P1: its public updates reach them by mail too.
    await watching.watch_incident(db, cast.manager, incident_id=checkout.id)
    await _pick_up(
        db,
        cast.agent,
        checkout,
        group="Payments team",
        public="We are investigating failed payments at checkout and will update within 30 minutes.",
    )
    await worklog.log_work(
        db, cast.agent, incident_id=checkout.id, minutes=45, note="Payment gateway logs reviewed"
    )

    slow = await incidents.report_incident(
        db,
        reporter,
        _new(
            tenant,
            services["Customer login"],
            "Password reset e-mails arrive late",
            "Reset links take 20 to 30 minutes to arrive.",
            Impact.LOW,
        ),
    )
    await incidents.add_comment(
        db,
        reporter,
        incident_id=slow.id,
        body="It happened again this morning for two colleagues.",
        visibility=Visibility.PUBLIC,
    )
    # The manager hands it to the agent, who hears of it by mail.
    await incidents.assign_incident(
        db,
        cast.manager,
        incident_id=slow.id,
        expected_version=None,
        assignee=cast.agent.subject,
        assignment_group="Service desk",
    )
    await handling.put_incident_on_hold(
        db,
        cast.agent,
        incident_id=slow.id,
        expected_version=None,
        reason=HoldReason.AWAITING_CUSTOMER,
        note="Could you send us the addresses that were affected and roughly when?",
    )

    search = await incidents.report_incident(
        db,
        cast.agent,
        _new(
            tenant,
            services["Web shop"],
            "Product search returns stale prices",
            "Search results show yesterday's prices; product pages are correct.",
        ),
    )
    await incidents.classify_incident(
        db,
        cast.agent,
        incident_id=search.id,
        expected_version=None,
        change=incidents.Classification(category="data", impact=Impact.MEDIUM, urgency=Urgency.HIGH),
    )

    invoice = await incidents.report_incident(
        db,
        reporter,
        _new(
            tenant,
            services["Payments"],
            "Invoices show the wrong VAT rate",
            "Invoices issued since Monday show 19 % VAT on reduced-rate items.",
        ),
    )
    await _resolve(db, cast.agent, invoice, "The reduced rate was restored; affected invoices reissued.", 90)

    outage = await incidents.report_incident(
        db,
        reporter,
        _new(
            tenant,
            services["Web shop"],
            "Web shop unreachable",
            "The shop answered with a blank page for about ten minutes.",
            Impact.HIGH,
        ),
    )
    await demo_work.seed_work(db, cast.agent, cast.manager, [checkout, slow, invoice, outage])
    await _resolve(db, cast.agent, outage, "A failed deployment was rolled back.", 30)
    if cast.customer is not None:
        await handling.rate_incident(
            db, cast.customer, incident_id=outage.id, score=5, comment="Quick and clear updates, thank you."
        )
        await handling.close_incident(db, cast.customer, incident_id=outage.id, expected_version=None)
    return 5


async def seed_globex(db: Database, tenant: Tenant, cast: Cast, services: Mapping[str, uuid.UUID]) -> int:
    """In progress and escalated to a vendor, new, and cancelled."""
    vpn = await incidents.report_incident(
        db,
        cast.agent,
        _new(
            tenant,
            services["Corporate VPN"],
            "VPN sessions drop every 30 minutes",
            "Several users in the Boston office report disconnects at regular intervals.",
            urgency=Urgency.HIGH,
        ),
    )
    await _pick_up(
        db,
        cast.agent,
        vpn,
        group="Network team",
        public="We reproduced the disconnects and are reviewing the concentrator's session timeouts.",
    )
    await handling.escalate_incident(
        db,
        cast.agent,
        incident_id=vpn.id,
        expected_version=None,
        escalation=handling.Escalation(
            note="Looks like a firmware defect; opened a case with the vendor.",
            vendor="Concentrator vendor",
            vendor_ticket="CV-20931",
        ),
    )
    await incidents.report_incident(
        db,
        cast.manager,
        _new(
            tenant,
            services["E-mail"],
            "Outbound e-mail delayed",
            "Messages to external recipients wait in the queue for up to an hour.",
        ),
    )
    await demo_work.seed_work(db, cast.agent, cast.manager, [vpn])
    printer = await incidents.report_incident(
        db,
        cast.manager,
        _new(
            tenant,
            services["E-mail"],
            "Scan-to-mail from the third floor fails",
            "The copier on the third floor cannot send scans by e-mail.",
            Impact.LOW,
            Urgency.LOW,
        ),
    )
    await handling.cancel_incident(
        db,
        cast.manager,
        incident_id=printer.id,
        expected_version=None,
        reason="The copier's own address book was wrong; fixed locally.",
    )
    return 3


async def seed_provider(db: Database, tenant: Tenant, cast: Cast, services: Mapping[str, uuid.UUID]) -> int:
    """The provider's own incidents: one being worked with its carrier, one new."""
    loss = await incidents.report_incident(
        db,
        cast.agent,
        _new(
            tenant,
            services["Network"],
            "Packet loss on an upstream transit link",
            "Monitoring shows 3 % packet loss towards one transit provider since 08:15 UTC.",
            Impact.HIGH,
            category="network",
        ),
    )
    await _pick_up(
        db, cast.agent, loss, group="NOC", public="Traffic is being shifted to the other transit providers."
    )
    await handling.escalate_incident(
        db,
        cast.agent,
        incident_id=loss.id,
        expected_version=None,
        escalation=handling.Escalation(
            note="Carrier informed.", vendor="Transit carrier", vendor_ticket="TC-48213"
        ),
    )
    await incidents.report_incident(
        db,
        cast.agent,
        _new(
            tenant,
            services["Hosting platform"],
            "Storage latency spikes on one hosting cluster",
            "Write latency above 50 ms for a few minutes every hour.",
            Impact.LOW,
            Urgency.LOW,
        ),
    )
    return 2


IncidentSeeder = Callable[[Database, Tenant, Cast, Mapping[str, uuid.UUID]], Awaitable[int]]

INCIDENT_SEEDERS: dict[str, IncidentSeeder] = {
    "acme": seed_acme,
    "globex": seed_globex,
    "provider": seed_provider,
}


async def seed_incidents(db: Database, tenant: Tenant, cast: Cast, services: Mapping[str, uuid.UUID]) -> int:
    """A tenant's stories, only while it has no incident at all: a second run never duplicates them."""
    seeder = INCIDENT_SEEDERS.get(tenant.slug)
    if seeder is None or await incident_count(db, tenant) > 0:
        return 0
    return await seeder(db, tenant, cast, services)
