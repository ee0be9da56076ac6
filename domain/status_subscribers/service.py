"""Subscribing to a public status page, confirming the address, unsubscribing: one use case each.

Anyone may ask for an address to be subscribed, so nothing of what follows may tell them more than that
the request was taken: a new, pending or unsubscribed address is sent a (new) confirmation link, an
address that already follows the page is sent a mail saying so, and the caller reads the same answer
every time. Only the mailbox's owner learns which it was. A following subscriber's services change only
through a mail's link: unsubscribing, then subscribing again with the new choice.

The links (``domain/mail/links.py``) carry the tenant and the subscriber, signed: a link of one page
does nothing on another's (the tenant it names must be the page's), a confirmation link expires after
``CONFIRM_WITHIN``, and an unsubscribe link never does (RFC 8058 expects it to keep working).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as upsert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.bulletins.public import public_tenant
from domain.catalog.models import Service
from domain.columns import utcnow
from domain.db import Database, Scope, use_case
from domain.errors import ErrorCode, Refused, invalid, not_found
from domain.mail.links import LinkRefused, MailLinks
from domain.mail.outbox import checked_address, queue_notice
from domain.mail.rendering import Link
from domain.status_subscribers.models import StatusSubscriber, StatusSubscriberService
from domain.tenancy.models import Tenant

# The actions of the links in subscribers' mails (each signed with a salt of its own).
CONFIRM = "status.confirm"
UNSUBSCRIBE = "status.unsubscribe"
CONFIRM_WITHIN = timedelta(hours=48)
MAX_SERVICES = 100
# A signed link of ours is a few hundred characters; anything much longer is not one, and is refused
# before any signature is computed over it.
MAX_TOKEN = 2000
SERVICE_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,79}")

NOT_VALID = "this link is not valid"
EXPIRED = "this link has expired: subscribe again to receive a new one"


@dataclass(frozen=True)
class Subscription:
    """What a page tells a visitor of the subscription their link acted on."""

    page_name: str
    # The names of the services followed; empty when following all of them.
    services: tuple[str, ...] = ()


def subscriber_address(text: str) -> str:
    """An address as subscribers are kept and counted: one mailbox (``checked_address``), lower-cased
    whole, since a visitor typing ``Ann@Example.com`` and one typing ``ann@example.com`` mean the same
    inbox. INVALID at ``email`` otherwise; so is any space or control character, which no address a
    visitor means holds (and a NUL no column stores)."""
    value = text.strip()
    if any(c.isspace() or not c.isprintable() for c in value):
        raise invalid("must be one email address", "email")
    return checked_address(value, "email").lower()


def confirm_link(tenant: Tenant, subscriber_id: uuid.UUID) -> Link:
    return Link(
        f"/status/{tenant.slug}/subscription/confirm",
        CONFIRM,
        {"tenant": str(tenant.id), "subscriber": str(subscriber_id)},
    )


def unsubscribe_link(tenant: Tenant, subscriber_id: uuid.UUID) -> Link:
    return Link(
        f"/status/{tenant.slug}/unsubscribe",
        UNSUBSCRIBE,
        {"tenant": str(tenant.id), "subscriber": str(subscriber_id)},
    )


def _wanted_slugs(services: Sequence[str] | None) -> list[str] | None:
    """The chosen services' slugs as given (None: all of them)."""
    if services is None:
        return None
    if not services:
        raise invalid("name at least one service, or none at all to follow every service", "services")
    if len(services) > MAX_SERVICES:
        raise Refused.one(ErrorCode.LIMIT_EXCEEDED, f"at most {MAX_SERVICES} services", "services")
    return [slug.strip().lower() for slug in services]


async def _page(db: Database, tenant_slug: str) -> Tenant:
    tenant = await public_tenant(db, tenant_slug)
    if tenant is None:
        raise not_found("status page", "tenant_slug")
    return tenant


async def _chosen_services(
    session: AsyncSession, tenant: Tenant, slugs: Sequence[str]
) -> dict[uuid.UUID, str]:
    """The page's services named by ``slugs``, as id -> name; a slug naming none is NOT_FOUND."""
    # Only what could be a slug is asked for: anything else names no service (and a NUL, say, would
    # fail the statement).
    askable = sorted({slug for slug in slugs if SERVICE_SLUG.fullmatch(slug)})
    found = {
        slug: (service_id, name)
        for slug, service_id, name in await session.execute(
            select(Service.slug, Service.id, Service.name).where(
                Service.tenant_id == tenant.id, Service.slug.in_(askable)
            )
        )
    }
    chosen: dict[uuid.UUID, str] = {}
    for index, slug in enumerate(slugs):
        if slug not in found:
            raise not_found("service", "services", str(index))
        service_id, name = found[slug]
        chosen[service_id] = name
    return chosen


async def _followed_names(session: AsyncSession, subscriber: StatusSubscriber) -> tuple[str, ...]:
    if subscriber.all_services:
        return ()
    names = await session.scalars(
        select(Service.name)
        .join(
            StatusSubscriberService,
            (StatusSubscriberService.tenant_id == Service.tenant_id)
            & (StatusSubscriberService.service_id == Service.id),
        )
        .where(
            StatusSubscriberService.tenant_id == subscriber.tenant_id,
            StatusSubscriberService.subscriber_id == subscriber.id,
        )
        .order_by(Service.name)
    )
    return tuple(names)


@use_case
async def subscribe(
    db: Database, *, tenant_slug: str, email: str, services: Sequence[str] | None = None
) -> StatusSubscriber:
    """Ask for ``email`` to follow the page of ``tenant_slug``: all its services (``services`` None) or
    those named by their slugs. Queues the mail its state calls for (see the module's text); the row is
    returned for trusted callers (the demo), never shown to the one who asked."""
    tenant = await _page(db, tenant_slug)
    address = subscriber_address(email)
    slugs = _wanted_slugs(services)
    now = utcnow()
    async with db.transaction(Scope.of([tenant.id])) as session:
        chosen = await _chosen_services(session, tenant, slugs) if slugs is not None else None
        # Two requests for one address at once: one inserts, the other waits on its row lock below.
        await session.execute(
            upsert(StatusSubscriber)
            .values(
                tenant_id=tenant.id,
                id=uuid.uuid4(),
                email=address,
                all_services=chosen is None,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["tenant_id", "email"])
        )
        subscriber = await session.scalar(
            select(StatusSubscriber)
            .where(StatusSubscriber.tenant_id == tenant.id, StatusSubscriber.email == address)
            .with_for_update()
        )
        assert subscriber is not None  # inserted above, or there already
        unsubscribe = unsubscribe_link(tenant, subscriber.id)
        if subscriber.follows:
            await queue_notice(
                session,
                tenant_id=tenant.id,
                to=address,
                template="status_subscription_active",
                context={
                    "page_name": tenant.name,
                    "services": list(await _followed_names(session, subscriber)),
                },
                reason="status.subscription_active",
                links={"unsubscribe": unsubscribe},
            )
            return subscriber
        # Pending again (or still): the choice is this request's, and takes effect once confirmed.
        subscriber.confirmed_at = None
        subscriber.all_services = chosen is None
        await session.execute(
            delete(StatusSubscriberService).where(
                StatusSubscriberService.tenant_id == tenant.id,
                StatusSubscriberService.subscriber_id == subscriber.id,
            )
        )
        if chosen:
            await session.execute(
                insert(StatusSubscriberService),
                [
                    {"tenant_id": tenant.id, "subscriber_id": subscriber.id, "service_id": service_id}
                    for service_id in chosen
                ],
            )
        await queue_notice(
            session,
            tenant_id=tenant.id,
            to=address,
            template="status_subscription_confirm",
            context={
                "page_name": tenant.name,
                "services": sorted((chosen or {}).values()),
                "valid_hours": int(CONFIRM_WITHIN.total_seconds() // 3600),
            },
            reason="status.subscription_confirm",
            links={"confirm": confirm_link(tenant, subscriber.id), "unsubscribe": unsubscribe},
        )
        return subscriber


def _opened(
    links: MailLinks, token: str, action: str, max_age: timedelta | None, tenant: Tenant
) -> uuid.UUID:
    """The subscriber a link of ``action`` names on this tenant's page; INVALID at ``token`` when it is
    no such link, has expired, or belongs to another page."""
    if len(token) > MAX_TOKEN:
        raise invalid(NOT_VALID, "token")
    try:
        data = links.open(token, action, max_age)
    except LinkRefused as refused:
        raise invalid(EXPIRED if refused.expired else NOT_VALID, "token") from None
    if data.get("tenant") != str(tenant.id):
        raise invalid(NOT_VALID, "token")
    try:
        return uuid.UUID(str(data.get("subscriber")))
    except ValueError:
        raise invalid(NOT_VALID, "token") from None


@use_case
async def confirm_subscription(
    db: Database, *, links: MailLinks, tenant_slug: str, token: str
) -> Subscription:
    """Follow a confirmation link: the address follows the page from now on (again, if it had left).
    Following it twice changes nothing."""
    tenant = await _page(db, tenant_slug)
    subscriber_id = _opened(links, token, CONFIRM, CONFIRM_WITHIN, tenant)
    async with db.transaction(Scope.of([tenant.id])) as session:
        subscriber = await session.scalar(
            select(StatusSubscriber)
            .where(StatusSubscriber.tenant_id == tenant.id, StatusSubscriber.id == subscriber_id)
            .with_for_update()
        )
        if subscriber is None:  # deleted since (with its tenant's data, say)
            raise invalid(NOT_VALID, "token")
        if not subscriber.follows:
            subscriber.confirmed_at = utcnow()
            subscriber.unsubscribed_at = None
        return Subscription(tenant.name, await _followed_names(session, subscriber))


async def unsubscribe_target(db: Database, *, links: MailLinks, tenant_slug: str, token: str) -> Subscription:
    """The page an unsubscribe link is for, checked without acting on it: a page asks before it
    unsubscribes, since mail scanners open links on their own."""
    tenant = await _page(db, tenant_slug)
    _opened(links, token, UNSUBSCRIBE, None, tenant)
    return Subscription(tenant.name)


@use_case
async def unsubscribe(db: Database, *, links: MailLinks, tenant_slug: str, token: str) -> Subscription:
    """Follow an unsubscribe link (RFC 8058's one-click POST): nothing more is sent to the address.
    Idempotent: a second time, or for a subscriber deleted since, it answers the same."""
    tenant = await _page(db, tenant_slug)
    subscriber_id = _opened(links, token, UNSUBSCRIBE, None, tenant)
    async with db.transaction(Scope.of([tenant.id])) as session:
        await session.execute(
            update(StatusSubscriber)
            .where(
                StatusSubscriber.tenant_id == tenant.id,
                StatusSubscriber.id == subscriber_id,
                StatusSubscriber.unsubscribed_at.is_(None),
            )
            .values(unsubscribed_at=utcnow())
        )
    return Subscription(tenant.name)
