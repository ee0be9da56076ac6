"""A tenant's public status page and what is made from it:

- ``GET /status/{slug}``: the page, rendered on the server (it reads fine without JavaScript), then kept
  live by ``/static/status.js`` (an anonymous ``publicStatusChanged`` subscription that re-renders the
  current statuses and notices, reconnecting by itself with backoff);
- ``/status/{slug}/feed.atom`` and ``/feed.rss``: the public updates, newest first;
- ``/status/{slug}/summary.json``: the overall indicator, services, open notices and maintenance;
- ``/status/{slug}/badge.svg``: the overall status as a small image;
- ``/status/{slug}/subscribe``, ``/subscription/confirm`` and ``/unsubscribe``: mail subscriptions
  (``subscribers``).

Every answer carries a strong ETag and answers If-None-Match with 304. Tenants without a public page
answer 404 on every route, byte for byte like unknown slugs. What the page shows is read by the domain
(``domain.bulletins.status_page``); this module only renders it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from api.status_page import subscribers
from api.status_page.caching import REVALIDATE, SHORT, cached
from api.status_page.rendering import templates
from api.status_page.summary import summary
from api.status_subscribers.desk import Subscriptions
from domain.bulletins.public import public_tenant
from domain.bulletins.status_page import StatusPage, read_status_page
from domain.bulletins.uptime import PAGE_DAYS
from domain.db import Database

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self';"
        " base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# The feeds, the summary and the badge are read by other sites' pages and by programs: anyone may.
SHARED_HEADERS = {"X-Content-Type-Options": "nosniff", "Access-Control-Allow-Origin": "*"}

NOT_FOUND = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Not found</title></head>
<body><main><h1>Not found</h1><p>There is no status page here.</p></main></body></html>
"""


def _not_found() -> Response:
    return HTMLResponse(NOT_FOUND, status_code=404, headers={**PAGE_HEADERS, "Cache-Control": "no-cache"})


def routes(db: Database, subscriptions: Subscriptions) -> list[BaseRoute]:
    async def read(request: Request) -> StatusPage | None:
        tenant = await public_tenant(db, request.path_params["slug"])
        if tenant is None:
            return None
        return await read_status_page(db, tenant, now=datetime.now(UTC))

    def page_url(request: Request, page: StatusPage) -> str:
        return str(request.url_for("status_page", slug=page.view.tenant.slug))

    def render(
        request: Request, page: StatusPage, template: str, media_type: str, **context: Any
    ) -> Response:
        return templates.TemplateResponse(
            request,
            template,
            {
                "page": page,
                "view": page.view,
                "page_url": page_url(request, page),
                "days": PAGE_DAYS,
                **context,
            },
            media_type=media_type,
        )

    async def status_page(request: Request) -> Response:
        page = await read(request)
        if page is None:
            return _not_found()
        response = render(request, page, "status.html", "text/html")
        response.headers.update(PAGE_HEADERS)
        return cached(request, response, REVALIDATE)

    async def feed(request: Request, template: str, media_type: str) -> Response:
        page = await read(request)
        if page is None:
            return _not_found()
        entries = page.entries()
        newest = entries[0].update.at if entries else page.updated_at or page.view.tenant.created_at
        response = render(request, page, template, media_type, entries=entries, updated=newest)
        response.headers.update(SHARED_HEADERS)
        return cached(request, response, SHORT)

    async def atom(request: Request) -> Response:
        return await feed(request, "status_feed.atom", "application/atom+xml")

    async def rss(request: Request) -> Response:
        return await feed(request, "status_feed.rss", "application/rss+xml")

    async def summary_json(request: Request) -> Response:
        page = await read(request)
        if page is None:
            return _not_found()
        response = JSONResponse(summary(page, page_url(request, page)), headers=SHARED_HEADERS)
        return cached(request, response, SHORT)

    async def badge(request: Request) -> Response:
        page = await read(request)
        if page is None:
            return _not_found()
        response = render(request, page, "status_badge.svg", "image/svg+xml")
        response.headers.update(SHARED_HEADERS)
        # The badge is an image other pages embed: it runs nothing and loads nothing.
        response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
        return cached(request, response, SHORT)

    return [
        Route("/status/{slug}", status_page, methods=["GET"], name="status_page"),
        Route("/status/{slug}/feed.atom", atom, methods=["GET"]),
        Route("/status/{slug}/feed.rss", rss, methods=["GET"]),
        Route("/status/{slug}/summary.json", summary_json, methods=["GET"]),
        Route("/status/{slug}/badge.svg", badge, methods=["GET"]),
        *subscribers.routes(subscriptions, page_headers=PAGE_HEADERS, not_found=_not_found),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]
