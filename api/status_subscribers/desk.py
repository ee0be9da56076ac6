"""What the status page's subscribe form and ``subscribeToStatusPage`` share: the rate limits counted
before the domain is asked, the signer that opens the mails' links, and a nudge to the mail worker.

A subscription writes no live event, so nothing else would wake the mail worker: the desk wakes this
process's worker once the request committed, and the confirmation leaves at once rather than at the
worker's next poll.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from api.limits import SubscribeThrottle
from domain.db import Database
from domain.errors import ErrorCode, Refused
from domain.mail.links import MailLinks
from domain.settings import Settings
from domain.status_subscribers import service
from domain.status_subscribers.service import Subscription


@dataclass(frozen=True)
class TooMany:
    """A request a rate limit refused: wait ``seconds``; ``field`` is ``email`` when it is the address's
    limit (None: the client's)."""

    seconds: int
    field: str | None

    def refused(self) -> Refused:
        whose = "this address" if self.field else "this client"
        minutes = max(1, -(-self.seconds // 60))
        wait = f"{minutes} minute{'' if minutes == 1 else 's'}"
        message = f"too many subscription requests for {whose}; try again in {wait}"
        return Refused.one(ErrorCode.LIMIT_EXCEEDED, message, *([self.field] if self.field else []))


class Subscriptions:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.links = MailLinks.for_settings(settings)
        self.throttle = SubscribeThrottle(
            per_client=settings.subscribe_client_rate_limit_per_hour,
            per_address=settings.subscribe_email_rate_limit_per_hour,
            storage_url=settings.rate_limit_storage,
        )

    async def subscribe(
        self, client: tuple[str, int] | None, *, tenant_slug: str, email: str, services: Sequence[str] | None
    ) -> TooMany | None:
        """Count the request against the client's and the address's limits, then subscribe (the domain
        raises ``Refused`` for bad input). None when taken, whatever the address's state."""
        wait = await self.throttle.client_wait(client)
        if wait:
            return TooMany(wait, None)
        address = service.subscriber_address(email)
        wait = await self.throttle.address_wait(address)
        if wait:
            return TooMany(wait, "email")
        await service.subscribe(self.db, tenant_slug=tenant_slug, email=address, services=services)
        return None

    async def confirm(self, *, tenant_slug: str, token: str) -> Subscription:
        return await service.confirm_subscription(
            self.db, links=self.links, tenant_slug=tenant_slug, token=token
        )

    async def unsubscribe_target(self, *, tenant_slug: str, token: str) -> Subscription:
        return await service.unsubscribe_target(
            self.db, links=self.links, tenant_slug=tenant_slug, token=token
        )

    async def unsubscribe(self, *, tenant_slug: str, token: str) -> Subscription:
        return await service.unsubscribe(self.db, links=self.links, tenant_slug=tenant_slug, token=token)
