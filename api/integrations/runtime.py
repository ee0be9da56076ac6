"""What the integrations add to the running app: the alert intake route and its worker, the
Idempotency-Key middleware, and the webhook delivery worker. The app runs the two workers with the others
(``create_app``'s list)."""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from api.idempotency import IdempotencyKeys
from api.intake import AlertIntake
from api.relay import encode_id
from auth import Authority
from domain.db import Database
from domain.outbox import Hub
from domain.settings import Settings
from domain.webhooks.worker import WebhookWorker


class Integrations:
    def __init__(
        self, settings: Settings, database: Database, authority: Authority, hub: Hub | None = None
    ) -> None:
        """Given the process's outbox hub, the webhook worker wakes on every committed event instead of
        only at its polling interval."""
        self.settings = settings
        self.database = database
        self.authority = authority
        # Routing keys are cached under the same access notices as the authority's principals.
        self.intake = AlertIntake(database, settings, authority.access)
        self.webhooks = WebhookWorker(database, settings, global_id=encode_id)
        if hub is not None:
            self.webhooks.watch(hub)

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
