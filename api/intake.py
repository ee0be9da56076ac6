"""``POST /v2/enqueue``: alert intake compatible with PagerDuty's Events API v2.

A tool configured for PagerDuty works by changing only its URL: same request body, same answers.

- 202 ``{"status": "success", "message": "Event processed", "dedup_key": "..."}`` once the event is stored;
  it is applied right after, in order per tenant (``domain.intake.worker``), and what became of it is kept
  in the integration key's alert log (``IntegrationKey.recentAlerts``);
- 400 ``{"status": "invalid event", "message": "Event object is invalid", "errors": [...]}``;
- 429 ``{"status": "throttle event", "message": "..."}`` with ``Retry-After`` when a routing key sends
  more than ``intake_rate_limit_per_minute`` events (counted per replica unless ``rate_limit_storage``
  points at a shared store).

The routing key is the only credential, as with PagerDuty: it names the tenant (and maybe the service)
the event belongs to. Alerts come in storms, so most are answered at the door (``api/quick.py``); the
route below answers the rest (a streamed body, an ``Origin`` header) the same way.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Scope

from api import bodies
from api.limits import PrincipalRateLimit
from api.quick import Answer
from domain.access import AccessNotices
from domain.db import Database
from domain.intake.alerts import InvalidEvent, parse_event
from domain.intake.inbox import AlertInbox, UnknownKey, Unstorable
from domain.intake.worker import AlertWorker
from domain.settings import Settings

ENQUEUE_PATH = "/v2/enqueue"
# PagerDuty refuses events over 512 KB.
MAX_EVENT_BYTES = 512 * 1024

# (status, JSON document, extra headers)
Reply = tuple[int, dict[str, Any], dict[str, str]]


def invalid_event(*errors: str) -> Reply:
    return 400, {"status": "invalid event", "message": "Event object is invalid", "errors": list(errors)}, {}


TOO_LARGE = invalid_event(f"Event is too large (maximum is {MAX_EVENT_BYTES} bytes)")


class AlertIntake:
    methods = ("POST",)

    def __init__(self, db: Database, settings: Settings, notices: AccessNotices | None = None) -> None:
        self.db = db
        self.worker = AlertWorker(
            db,
            batch=settings.alert_batch_size,
            retention=timedelta(days=settings.alert_log_retention_days),
        )
        self.inbox = AlertInbox(db, notices=notices, stored=self.worker.wake)
        self.rate_limit = PrincipalRateLimit(
            settings.intake_rate_limit_per_minute, settings.rate_limit_storage
        )

    def routes(self) -> list[Route]:
        return [Route(ENQUEUE_PATH, self.enqueue, methods=["POST"], name="alert_intake")]

    async def enqueue(self, request: Request) -> Response:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_EVENT_BYTES:
                status, document, headers = TOO_LARGE
                break
        else:
            status, document, headers = await self.reply(body)
        return JSONResponse(document, status_code=status, headers=headers)

    async def quick_answer(self, scope: Scope, headers: dict[bytes, bytes], body: bytes) -> Answer:
        status, document, extra = TOO_LARGE if len(body) > MAX_EVENT_BYTES else await self.reply(body)
        # The bytes Starlette's JSONResponse would send.
        payload = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
        return status, payload, [(name.encode(), value.encode()) for name, value in extra.items()]

    async def reply(self, body: bytes) -> Reply:
        try:
            document = bodies.loads(body)
        except bodies.MalformedBody:
            return invalid_event("Event object is not valid JSON")
        try:
            event = parse_event(document)
        except InvalidEvent as invalid:
            return invalid_event(*invalid.errors)
        allowed, retry_after = await self.rate_limit.allow(f"routing_key {event.routing_key}")
        if not allowed:
            return (
                429,
                {
                    "status": "throttle event",
                    "message": "Requests for this service are arriving too quickly. Please retry later.",
                },
                {"Retry-After": str(retry_after)},
            )
        try:
            accepted = await self.inbox.accept(event, document)
        except UnknownKey:
            return invalid_event("'routing_key' is not a known integration key")
        except Unstorable:
            return invalid_event("Event object could not be stored")
        return 202, {"status": "success", "message": "Event processed", "dedup_key": accepted.dedup_key}, {}
