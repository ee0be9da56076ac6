"""Everything a tenant's public status page shows, read in one transaction of that tenant's scope.

Beside the live view (``public.PublicView``: services, active bulletins), the page shows each service's
90 days of uptime (``uptime``), the published bulletins that ended in the last 14 days, and feeds of the
public updates. Only what a visitor may see is read: published bulletins and their updates (every update
of a published bulletin is public), the services' names and statuses; nothing of incidents behind them.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select

from domain.bulletins.models import Bulletin, BulletinUpdate
from domain.bulletins.phases import FINAL_PHASES, BulletinKind
from domain.bulletins.public import PublicBulletin, PublicView, read_view, with_details
from domain.bulletins.uptime import PAGE_DAYS, Uptime, daily_uptime
from domain.db import Database, Scope
from domain.tenancy.models import Tenant

HISTORY = timedelta(days=14)
# A feed carries the newest updates only: readers poll it, and older news is on the page's history.
FEED_ENTRIES = 50


@dataclass(frozen=True)
class FeedEntry:
    """One public update, with the bulletin it belongs to."""

    bulletin: Bulletin
    update: BulletinUpdate


@dataclass(frozen=True)
class StatusPage:
    view: PublicView
    uptime: Mapping[uuid.UUID, Uptime]
    # Published bulletins that ended (resolved, completed) in the last 14 days, newest first.
    history: Sequence[PublicBulletin]
    now: datetime

    @property
    def notices(self) -> list[PublicBulletin]:
        """The active incidents and information notices."""
        return [b for b in self.view.bulletins if b.bulletin.kind is not BulletinKind.MAINTENANCE]

    @property
    def maintenance(self) -> list[PublicBulletin]:
        """Maintenance windows to come or in progress."""
        return [b for b in self.view.bulletins if b.bulletin.kind is BulletinKind.MAINTENANCE]

    @property
    def updated_at(self) -> datetime | None:
        stamps = [b.bulletin.updated_at for b in (*self.view.bulletins, *self.history)]
        return max(stamps, default=None)

    def entries(self) -> list[FeedEntry]:
        """The public updates of every bulletin the page shows, newest first, at most ``FEED_ENTRIES``."""
        found = [
            FeedEntry(item.bulletin, update)
            for item in (*self.view.bulletins, *self.history)
            for update in item.updates
        ]
        found.sort(key=lambda e: (e.update.at, str(e.update.id)), reverse=True)
        return found[:FEED_ENTRIES]


async def read_status_page(db: Database, tenant: Tenant, *, now: datetime) -> StatusPage:
    """The page of a tenant that has one (``public.public_tenant`` decides), as of ``now``."""
    async with db.transaction(Scope.of([tenant.id])) as session:
        view = await read_view(session, tenant)
        services = [service for service, _ in view.services]
        ended = list(
            (
                await session.scalars(
                    select(Bulletin)
                    .where(
                        Bulletin.tenant_id == tenant.id,
                        Bulletin.published.is_(True),
                        Bulletin.phase.in_(sorted(FINAL_PHASES)),
                        or_(Bulletin.updated_at >= now - HISTORY, Bulletin.created_at >= now - HISTORY),
                    )
                    .order_by(Bulletin.created_at.desc(), Bulletin.id.desc())
                    .limit(100)
                )
            ).all()
        )
        history = await with_details(session, ended, services)
        uptime = await daily_uptime(
            session,
            tenant_id=tenant.id,
            timezone=tenant.timezone,
            service_ids=[service.id for service in services],
            now=now,
            days=PAGE_DAYS,
        )
    return StatusPage(view=view, uptime=uptime, history=history, now=now)
