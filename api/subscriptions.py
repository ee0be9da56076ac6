"""The Subscription type: live events from the process's outbox hub (``domain/outbox``).

Each subscription opens a ``Feed`` on the hub for the tenants the caller may read, with a filter that
re-checks, for every event, the caller's tenant scope and what the caller may see (a CUSTOMER never
receives INTERNAL events or unpublished bulletins). Every event is resolved with loaders of its own, once
per group of subscribers who see it alike (``api/graphql/shared_render.py``).
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
import weakref
from collections import OrderedDict
from collections.abc import AsyncGenerator, Mapping

import strawberry

from api import fields
from api.bulletins import loaders as bulletin_loaders
from api.bulletins.types import Bulletin, PublicStatus, ServiceStatusChange, bulletin_readers, may_see
from api.catalog.types import Service, load_services
from api.context import Context, Info, fresh_loaders
from api.errors import ClientError
from api.graphql.broadcast import Ended, Page, live
from api.graphql.shared_render import mark_event
from api.incidents import loaders as incident_loaders
from api.incidents.queries import readable_tenants
from api.incidents.types import IncidentEvent
from api.permissions import IsAuthenticated
from api.relay import decode_cursor, decode_id
from api.tenancy.resolve import find_tenant_id
from domain.bulletins.public import (
    PublicView,
    concerns,
    current_view,
    only,
    public_service_ids,
    public_tenant,
)
from domain.incidents import reads
from domain.incidents.enums import Visibility
from domain.outbox import Hub, LiveEvent
from domain.tenancy.models import Tenant

AUTH = [IsAuthenticated]


def hub_of(ctx: Context) -> Hub:
    hub: Hub = ctx.request.app.state.hub
    return hub


MAX_FOLLOWED_SERVICES = 100


def _services(ids: list[strawberry.ID] | None) -> frozenset[uuid.UUID] | None:
    """The services a subscription follows (None: all). An ID that is not a Service's is the caller's
    mistake; a service the caller cannot see simply never has an event for them."""
    if ids is None:
        return None
    if len(ids) > MAX_FOLLOWED_SERVICES:
        raise ClientError(f"follow at most {MAX_FOLLOWED_SERVICES} services", "BAD_USER_INPUT")
    followed = set()
    for value in ids:
        service_id = decode_id(value, "Service")
        if service_id is None:
            raise ClientError("`services` holds an ID that is not a Service's", "BAD_USER_INPUT")
        followed.add(service_id)
    return frozenset(followed)


def prime_with_reads_of(ctx: Context, event: LiveEvent) -> None:
    """Give the event's render what the hub read with it (the incident, its service), so that the
    selection's nested fields most portals ask for cost no read. The rows are of the event's tenant,
    which the subscriber reads, and as current as a read at render time would be."""
    incident = event.incident_row
    if incident is not None:
        ctx.loader(incident_loaders.load_incidents).prime(incident.id, incident)
        if event.service is not None:
            key = (incident.tenant_id, event.service.id)
            ctx.loader(load_services).prime(key, event.service)
            if event.service_status is not None:
                ctx.loader(bulletin_loaders.load_service_statuses).prime(key, event.service_status)


async def _narrow(ctx: Context, tenants: frozenset[uuid.UUID], tenant: str | None) -> frozenset[uuid.UUID]:
    if tenant is None:
        return tenants
    chosen = await find_tenant_id(ctx, tenant)
    if chosen is None or chosen not in tenants:
        raise ClientError("tenant not found", "NOT_FOUND")
    return frozenset({chosen})


# A public page may have thousands of anonymous viewers: after a change, the first of them to ask reads the
# page's state and the others share that read. Keyed by (tenant, seq): a read made once the event with
# that seq was dispatched shows at least that event.
# Reads older than a few seconds are not shared: not every change of the page is an event (a new service).
_VIEWS: weakref.WeakKeyDictionary[
    Hub, OrderedDict[tuple[uuid.UUID, int], tuple[float, int, asyncio.Future[PublicView | None]]]
] = weakref.WeakKeyDictionary()
_VIEWS_KEPT = 256
_VIEWS_FRESH_SECONDS = 2.0
# Names each read apart, so that its viewers share its rendering too (``mark_event``).
_READS = itertools.count(1)


async def shared_view(
    ctx: Context, tenant: Tenant, seq: int, showing: frozenset[uuid.UUID] = frozenset()
) -> tuple[int, PublicView | None]:
    """The tenant's public page as of at least ``seq`` and the number of the read that made it; None
    once the tenant switched its page off. A kept read that lacks one of the services ``showing`` (created
    since: a new service is no live event) is read again."""
    views = _VIEWS.setdefault(hub_of(ctx), OrderedDict())
    key = (tenant.id, seq)
    loop = asyncio.get_running_loop()
    read_at, number, reading = views.get(key) or (0.0, 0, None)
    if (
        reading is None
        or (reading.done() and loop.time() - read_at > _VIEWS_FRESH_SECONDS)
        or (showing and reading.done() and not _shows(reading, showing))
    ):
        # A task of its own: a viewer leaving mid-read does not cancel the others' read.
        reading = asyncio.ensure_future(current_view(ctx.db, tenant.id))
        number = next(_READS)
        views[key] = (loop.time(), number, reading)
        views.move_to_end(key)
        while len(views) > _VIEWS_KEPT:
            views.popitem(last=False)

        def forget_failure(done: asyncio.Future[PublicView | None]) -> None:
            if (done.cancelled() or done.exception() is not None) and views.get(key, (0, 0, None))[2] is done:
                del views[key]

        reading.add_done_callback(forget_failure)
    return number, await asyncio.shield(reading)


async def _public_services(
    ctx: Context, tenant: Tenant, slugs: list[str] | None
) -> frozenset[uuid.UUID] | None:
    """The public services an embed follows (None: all); a slug the page does not show is refused."""
    if slugs is None:
        return None
    if len(slugs) > MAX_FOLLOWED_SERVICES:
        raise ClientError(f"follow at most {MAX_FOLLOWED_SERVICES} services", "BAD_USER_INPUT")
    found = await public_service_ids(ctx.db, tenant, slugs)
    unknown = sorted({slug.strip().lower() for slug in slugs} - found.keys())
    if unknown:
        raise ClientError(f"the status page shows no service {unknown[0]!r}", "NOT_FOUND")
    return frozenset(found.values())


def _shows(reading: asyncio.Future[PublicView | None], services: frozenset[uuid.UUID]) -> bool:
    if reading.cancelled() or reading.exception() is not None:
        return False
    view = reading.result()
    return view is None or services <= {service.id for service, _ in view.services}


def _cursor_seq(after: str) -> int:
    values = decode_cursor(after)
    if len(values) != 1 or not isinstance(values[0], int) or isinstance(values[0], bool) or values[0] < 0:
        raise ClientError("invalid cursor", "BAD_USER_INPUT")
    return values[0]


@strawberry.type
class Subscription:
    @fields.subscription(
        permission_classes=AUTH,
        description=(
            "The timeline events of the caller's incidents, as they commit. With `after` (an"
            " IncidentEvent.cursor) the stored events past it come first, then live ones, with no gap and"
            " no duplicate. Cursors count per tenant, so `after` needs a single tenant: pass `tenant` or"
            " `incidentId` unless the caller (or its X-Tenant / connection `tenant`) has only one."
            " With `services` (at most 100), only the events of incidents of those services."
        ),
    )
    async def incident_events(
        self,
        info: Info,
        tenant: strawberry.ID | None = None,
        incident_id: strawberry.ID | None = None,
        after: str | None = None,
        services: list[strawberry.ID] | None = None,
    ) -> AsyncGenerator[IncidentEvent, None]:
        ctx = info.context
        tenants = await _narrow(ctx, readable_tenants(ctx), tenant)
        followed = _services(services)
        wanted: uuid.UUID | None = None
        if incident_id is not None:
            wanted = decode_id(incident_id, "Incident")
            owner = None
            if wanted is not None:
                async with ctx.read() as session:
                    [found] = await reads.incidents_by_id(session, [wanted])
                owner = found.tenant_id if found is not None else None
            if owner is None or owner not in tenants:
                raise ClientError("incident not found", "NOT_FOUND")
            tenants = frozenset({owner})
        resume: dict[uuid.UUID, int] = {}
        if after is not None:
            if len(tenants) != 1:
                raise ClientError(
                    "`after` needs a single tenant: pass `tenant` or `incidentId`", "BAD_USER_INPUT"
                )
            resume = {next(iter(tenants)): _cursor_seq(after)}
        internal = {t: ctx.sees_internal(t) for t in tenants}

        def accept(event: LiveEvent) -> bool:
            row = event.incident
            return (
                row is not None
                and row.tenant_id in tenants
                and (wanted is None or row.incident_id == wanted)
                and (followed is None or event.service_id in followed)
                and (row.visibility is Visibility.PUBLIC or internal[row.tenant_id])
            )

        def make(event: LiveEvent) -> IncidentEvent:
            assert event.incident is not None
            fresh_loaders()
            prime_with_reads_of(ctx, event)
            return mark_event(IncidentEvent.from_row(event.incident), (event.tenant_id, event.seq))

        async for value in live(ctx, hub_of(ctx), tenants, accept, make, after=resume):
            yield value

    @fields.subscription(
        permission_classes=AUTH,
        description="Bulletins as they change; CUSTOMER members see published bulletins only",
    )
    async def bulletin_changed(
        self, info: Info, tenant: strawberry.ID | None = None
    ) -> AsyncGenerator[Bulletin, None]:
        ctx = info.context
        tenants = await _narrow(ctx, bulletin_readers(ctx), tenant)

        def accept(event: LiveEvent) -> bool:
            row = event.bulletin
            return event.is_bulletin_change and row is not None and may_see(ctx, row.tenant_id, row.published)

        async def make(event: LiveEvent) -> Bulletin | None:
            assert event.bulletin is not None and event.bulletin.bulletin_id is not None
            fresh_loaders()
            row = await ctx.loader(bulletin_loaders.load_bulletins).load(event.bulletin.bulletin_id)
            if row is None or not may_see(ctx, row.tenant_id, row.published):
                return None
            return mark_event(Bulletin.from_row(row), (event.tenant_id, event.seq))

        async for value in live(ctx, hub_of(ctx), tenants, accept, make):
            yield value

    @fields.subscription(
        permission_classes=AUTH,
        description="Every change of a service's status; with `services` (at most 100), of those only",
    )
    async def service_status_changed(
        self, info: Info, tenant: strawberry.ID | None = None, services: list[strawberry.ID] | None = None
    ) -> AsyncGenerator[ServiceStatusChange, None]:
        ctx = info.context
        tenants = await _narrow(ctx, bulletin_readers(ctx), tenant)
        followed = _services(services)

        def accept(event: LiveEvent) -> bool:
            return (
                event.is_status_change
                and event.tenant_id in tenants
                and (
                    followed is None or (event.bulletin is not None and event.bulletin.service_id in followed)
                )
            )

        def make(event: LiveEvent) -> ServiceStatusChange | None:
            fresh_loaders()
            change = event.bulletin
            assert change is not None and change.service_id is not None and change.status is not None
            row = event.service  # read once by the hub for every subscriber
            if row is None:
                return None
            service = Service.from_row(row)
            service.known_status = change.status
            change_type = ServiceStatusChange(service=service, status=change.status, at=change.at)
            return mark_event(change_type, (event.tenant_id, event.seq))

        async for value in live(ctx, hub_of(ctx), tenants, accept, make):
            yield value

    @fields.subscription(
        description=(
            "A tenant's public status page, without a token: the current status first, then again after"
            " every change of it. Only for tenants with a public status page. With `services` (service slugs,"
            " at most 100), only those services and the bulletins that affect them, and only their changes."
        )
    )
    async def public_status_changed(
        self, info: Info, tenant_slug: str, services: list[str] | None = None
    ) -> AsyncGenerator[PublicStatus, None]:
        ctx = info.context
        tenant = await public_tenant(ctx.db, tenant_slug)
        if tenant is None:
            raise ClientError("status page not found", "NOT_FOUND")
        followed = await _public_services(ctx, tenant, services)

        def accept(event: LiveEvent) -> bool:
            row = event.bulletin
            if row is None or not (event.is_status_change or row.published):
                return False
            return followed is None or concerns(row, followed)

        async def page_as_of(seq: int) -> PublicStatus:
            read, view = await shared_view(ctx, tenant, seq, followed or frozenset())
            if view is None:
                raise Ended  # the tenant switched its page off
            if followed is not None:
                view = only(view, followed)
            # Its viewers share the read, and so its rendering (a filter is part of the document or its
            # variables, so only viewers following the same services share a render).
            return mark_event(PublicStatus.from_view(view), ("public status", read))

        async def first(marks: Mapping[uuid.UUID, int]) -> PublicStatus | None:
            try:
                return await page_as_of(marks.get(tenant.id, 0))
            except Ended:
                return None

        async def make(event: LiveEvent) -> PublicStatus:
            return await page_as_of(event.seq)

        page = Page(first=first, seen=lambda status: status.fingerprint)
        async for value in live(ctx, hub_of(ctx), [tenant.id], accept, make, page=page):
            yield value
