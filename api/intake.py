"""``POST /v2/enqueue``: alert intake compatible with PagerDuty's Events API v2.

A tool configured for PagerDuty works by changing only its URL: same request body, same answers.

- 202 ``{"status": "success", "message": "Event processed", "dedup_key": "..."}``;
- 400 ``{"status": "invalid event", "message": "Event object is invalid", "errors": [...]}``;
- 429 ``{"status": "throttle event", "message": "..."}`` with ``Retry-After`` when a routing key sends
  more than ``intake_rate_limit_per_minute`` events (counted per replica unless ``rate_limit_storage``
  points at a shared store).

The routing key is the only credential, as with PagerDuty: it names the tenant (and maybe the service)
the event belongs to.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api import bodies
from api.limits import PrincipalRateLimit
from domain.db import Database
from domain.intake.alerts import InvalidEvent, parse_event
from domain.intake.keys import find_routing_key
from domain.intake.service import handle
from domain.settings import Settings

log = logging.getLogger(__name__)

ENQUEUE_PATH = "/v2/enqueue"
# PagerDuty refuses events over 512 KB.
MAX_EVENT_BYTES = 512 * 1024


def invalid_event(*errors: str) -> JSONResponse:
    return JSONResponse(
        {"status": "invalid event", "message": "Event object is invalid", "errors": list(errors)},
        status_code=400,
    )


class AlertIntake:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
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
                return invalid_event(f"Event is too large (maximum is {MAX_EVENT_BYTES} bytes)")
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
            return JSONResponse(
                {
                    "status": "throttle event",
                    "message": "Requests for this service are arriving too quickly. Please retry later.",
                },
                status_code=429,
                headers={"Retry-After": str(retry_after)},
            )
        key = await find_routing_key(self.db, event.routing_key)
        if key is None:
            return invalid_event("'routing_key' is not a known integration key")
        outcome = await handle(self.db, key, event)
        log.info(
            "alert %s for tenant %s: %s (dedup_key %s)",
            event.action.value,
            key.tenant_id,
            outcome.message,
            outcome.dedup_key,
        )
        return JSONResponse(
            {"status": "success", "message": outcome.message, "dedup_key": outcome.dedup_key},
            status_code=202,
        )
