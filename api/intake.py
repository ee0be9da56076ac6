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
the event belongs to.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api import bodies
from api.limits import PrincipalRateLimit
from domain.db import Database
from domain.intake.alerts import InvalidEvent, parse_event
from domain.intake.inbox import AlertInbox, UnknownKey, Unstorable
from domain.intake.worker import AlertWorker
from domain.settings import Settings

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
        self.worker = AlertWorker(db)
        self.inbox = AlertInbox(db, stored=self.worker.wake)
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
        try:
            accepted = await self.inbox.accept(event, document)
        except UnknownKey:
            return invalid_event("'routing_key' is not a known integration key")
        except Unstorable:
            return invalid_event("Event object could not be stored")
        return JSONResponse(
            {"status": "success", "message": "Event processed", "dedup_key": accepted.dedup_key},
            status_code=202,
        )
