"""``GET /status/{slug}``: a tenant's public status page, small and accessible.

The page is rendered on the server (it reads fine without JavaScript), then ``/static/status.js``
subscribes to ``publicStatusChanged`` over graphql-transport-ws, anonymously, and re-renders the same
markup on every change; it reconnects by itself with backoff. Tenants without a public page answer 404,
exactly like unknown slugs.
"""

from __future__ import annotations

import html
from datetime import datetime
from pathlib import Path
from string import Template

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from domain.bulletins.phases import BulletinKind, BulletinPhase, ServiceStatus
from domain.bulletins.public import PublicBulletin, PublicView, public_status
from domain.db import Database

HERE = Path(__file__).resolve().parent
PAGE = Template((HERE / "templates" / "status.html").read_text(encoding="utf-8"))

STATUS_LABELS = {
    ServiceStatus.OPERATIONAL: "Operational",
    ServiceStatus.DEGRADED_PERFORMANCE: "Degraded performance",
    ServiceStatus.PARTIAL_OUTAGE: "Partial outage",
    ServiceStatus.MAJOR_OUTAGE: "Major outage",
    ServiceStatus.UNDER_MAINTENANCE: "Under maintenance",
}
OVERALL_LABELS = {
    ServiceStatus.OPERATIONAL: "All systems operational",
    ServiceStatus.DEGRADED_PERFORMANCE: "Degraded performance",
    ServiceStatus.PARTIAL_OUTAGE: "Partial outage",
    ServiceStatus.MAJOR_OUTAGE: "Major outage",
    ServiceStatus.UNDER_MAINTENANCE: "Maintenance in progress",
}
PHASE_LABELS = {phase: phase.value.replace("_", " ").capitalize() for phase in BulletinPhase}

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self';"
        " base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

NOT_FOUND = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Not found</title></head>
<body><main><h1>Not found</h1><p>There is no status page here.</p></main></body></html>
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _time(at: datetime | None) -> str:
    if at is None:
        return ""
    return f'<time datetime="{_e(at.isoformat())}">{_e(at.strftime("%Y-%m-%d %H:%M UTC"))}</time>'


def _status(status: ServiceStatus) -> str:
    return f'<span class="status" data-status="{status.value}">{_e(STATUS_LABELS[status])}</span>'


def render_services(view: PublicView) -> str:
    if not view.services:
        return '<li class="empty">No services are listed.</li>'
    return "".join(
        f'<li data-service-id="{_e(s.id)}"><span class="name">{_e(s.name)}</span> {_status(status)}</li>'
        for s, status in view.services
    )


def render_bulletin(item: PublicBulletin) -> str:
    b = item.bulletin
    parts = [
        f'<article class="bulletin" data-bulletin-id="{_e(b.id)}" data-kind="{b.kind.value}">',
        f"<h3>{_e(b.title)}</h3>",
        f'<p class="phase" data-phase="{b.phase.value}">{_e(PHASE_LABELS[b.phase])}</p>',
    ]
    if b.scheduled_start is not None or b.scheduled_end is not None:
        parts.append(f'<p class="window">From {_time(b.scheduled_start)} to {_time(b.scheduled_end)}</p>')
    if item.affected:
        affected = ", ".join(f"{_e(s.name)} ({_e(STATUS_LABELS[status])})" for s, status in item.affected)
        parts.append(f'<p class="affected">Affects: {affected}</p>')
    parts.append('<ol class="updates">')
    parts += [
        f'<li>{_time(u.at)} <strong>{_e(PHASE_LABELS[u.phase])}</strong> <span class="body">{_e(u.body)}</span></li>'
        for u in item.updates
    ]
    parts.append("</ol></article>")
    return "".join(parts)


def render_page(view: PublicView) -> str:
    maintenance = [b for b in view.bulletins if b.bulletin.kind is BulletinKind.MAINTENANCE]
    notices = [b for b in view.bulletins if b.bulletin.kind is not BulletinKind.MAINTENANCE]
    return PAGE.substitute(
        tenant_name=_e(view.tenant.name),
        slug=_e(view.tenant.slug),
        overall=view.overall.value,
        overall_label=_e(OVERALL_LABELS[view.overall]),
        services=render_services(view),
        notices="".join(render_bulletin(b) for b in notices) or '<p class="empty">No current notices.</p>',
        maintenance="".join(render_bulletin(b) for b in maintenance)
        or '<p class="empty">No maintenance scheduled.</p>',
    )


def routes(db: Database) -> list[BaseRoute]:
    async def page(request: Request) -> Response:
        view = await public_status(db, request.path_params["slug"])
        if view is None:
            return HTMLResponse(NOT_FOUND, status_code=404, headers=HEADERS)
        return HTMLResponse(render_page(view), headers=HEADERS)

    return [
        Route("/status/{slug}", page, methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
    ]
