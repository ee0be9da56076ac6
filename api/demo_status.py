"""The demo's public status page news: a visitor of acme's page who subscribed by mail and confirmed,
then the bulletins acme's agent published, so that the mails they cause wait in the outbox (``incidentdesk
serve`` sends them to the Maildir, and ``incidentdesk mail list`` shows them).

Told through the use cases as the visitor and the agent would, and seeded only while the tenant has no
bulletin, so a second run never duplicates them (nor mails the visitor again).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from auth import Principal
from domain.bulletins import reads
from domain.bulletins import service as bulletins
from domain.bulletins.phases import BulletinKind, BulletinPhase, ServiceStatus
from domain.columns import utcnow
from domain.db import Database, Scope
from domain.mail.links import MailLinks
from domain.status_subscribers import service as subscribers
from domain.tenancy.models import Tenant

# The visitor who follows acme's page; example.com is reserved for examples, so no mail reaches anyone.
DEMO_SUBSCRIBER = "status-watcher@example.com"


async def bulletin_count(db: Database, tenant: Tenant) -> int:
    async with db.transaction(Scope.of([tenant.id])) as session:
        return await reads.bulletin_count(session, tenant_id=tenant.id)


async def seed_status_news(
    db: Database, links: MailLinks, tenant: Tenant, agent: Principal, services: Mapping[str, uuid.UUID]
) -> int:
    """The subscriber and the bulletins of a tenant with a public page; how many bulletins were made."""
    if not tenant.public_status_page or await bulletin_count(db, tenant):
        return 0
    watcher = await subscribers.subscribe(db, tenant_slug=tenant.slug, email=DEMO_SUBSCRIBER)
    # The visitor follows the link of the confirmation mail.
    confirm = subscribers.confirm_link(tenant, watcher.id)
    await subscribers.confirm_subscription(
        db, links=links, tenant_slug=tenant.slug, token=links.token(confirm.action, confirm.data)
    )

    [payments] = await bulletins.create_bulletin(
        db,
        agent,
        bulletins.NewBulletin(
            tenant_ids=[tenant.id],
            kind=BulletinKind.INCIDENT,
            title="Card payments failing for some customers",
            body="Some card payments are declined at checkout; invoices are not affected. We are investigating.",
            phase=BulletinPhase.INVESTIGATING,
            affected=[bulletins.Affected(services["Payments"], ServiceStatus.PARTIAL_OUTAGE)],
            publish=True,
        ),
    )
    await bulletins.post_bulletin_update(
        db,
        agent,
        bulletins.NewUpdate(
            payments.id,
            BulletinPhase.IDENTIFIED,
            "Our card processor's certificate expired; a renewed one is being rolled out.",
        ),
    )
    await bulletins.post_bulletin_update(
        db,
        agent,
        bulletins.NewUpdate(
            payments.id, BulletinPhase.RESOLVED, "Card payments work again. Sorry for the trouble."
        ),
    )

    # Tomorrow night, 02:00 to 04:00 in the tenant's timezone: always ahead when the demo is seeded.
    zone = ZoneInfo(tenant.timezone)
    tomorrow = utcnow().astimezone(zone).date() + timedelta(days=1)
    start = datetime.combine(tomorrow, time(2, 0), zone)
    await bulletins.create_bulletin(
        db,
        agent,
        bulletins.NewBulletin(
            tenant_ids=[tenant.id],
            kind=BulletinKind.MAINTENANCE,
            title="Web shop database upgrade",
            body="The web shop may answer slowly or not at all for a few minutes during the window.",
            phase=BulletinPhase.SCHEDULED,
            affected=[bulletins.Affected(services["Web shop"], ServiceStatus.UNDER_MAINTENANCE)],
            scheduled_start=start,
            scheduled_end=start + timedelta(hours=2),
            publish=True,
        ),
    )
    return 2
