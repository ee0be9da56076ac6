"""What the integrations add to the running app: the alert intake route, the Idempotency-Key
middleware, and the background work (the webhook delivery worker, purging expired idempotency keys)."""

from __future__ import annotations

import asyncio
import contextlib

from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from api.idempotency import IdempotencyKeys, purge_forever
from api.intake import AlertIntake
from api.relay import encode_id
from auth import Authority
from domain.db import Database
from domain.outbox import Hub
from domain.settings import Settings
from domain.webhooks.worker import WebhookWorker


class Integrations:
    def __init__(self, settings: Settings, database: Database, authority: Authority) -> None:
        self.settings = settings
        self.database = database
        self.authority = authority
        # Routing keys are cached under the same access notices as the authority's principals.
        self.intake = AlertIntake(database, settings, authority.access)
        self.webhooks = WebhookWorker(database, settings, global_id=encode_id)
        self._purge: asyncio.Task[None] | None = None

    def routes(self) -> list[BaseRoute]:
        return list(self.intake.routes())

    def middleware(self) -> list[Middleware]:
        return [
            Middleware(
                IdempotencyKeys,
                database=self.database,
                authority=self.authority,
                ttl_seconds=self.settings.idempotency_ttl_seconds,
            )
        ]

    async def start(self, hub: Hub | None = None) -> None:
        """Start the background work; given the process's outbox hub, the webhook worker wakes on every
        committed event instead of only at its polling interval."""
        if hub is not None:
            self.webhooks.watch(hub)
        self.webhooks.start()
        self.intake.worker.start()
        self._purge = asyncio.create_task(purge_forever(self.database), name="idempotency-purge")

    async def stop(self) -> None:
        if self._purge is not None:
            self._purge.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._purge
            self._purge = None
        await self.intake.worker.stop()
        await self.webhooks.stop()
