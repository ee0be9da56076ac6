"""``/status/{slug}/summary.json``: the page in a form a program reads (a widget, a monitor).

Field names are stable and snake_case; times are ISO 8601 in UTC; statuses are the GraphQL enum's
names. Nothing here is not on the page itself.
"""

from __future__ import annotations

import math
from typing import Any

from api.relay import encode_id
from api.status_page.rendering import OVERALL_LABELS
from domain.bulletins.public import PublicBulletin
from domain.bulletins.status_page import StatusPage


def _bulletin(item: PublicBulletin) -> dict[str, Any]:
    b = item.bulletin
    return {
        "id": encode_id("Bulletin", b.id),
        "kind": b.kind.value,
        "title": b.title,
        "phase": b.phase.value,
        "scheduled_start": b.scheduled_start.isoformat() if b.scheduled_start else None,
        "scheduled_end": b.scheduled_end.isoformat() if b.scheduled_end else None,
        "created_at": b.created_at.isoformat(),
        "updated_at": b.updated_at.isoformat(),
        "affected_services": [{"slug": s.slug, "status": status.value} for s, status in item.affected],
        "updates": [{"phase": u.phase.value, "body": u.body, "at": u.at.isoformat()} for u in item.updates],
    }


def summary(page: StatusPage, url: str) -> dict[str, Any]:
    view = page.view
    services = []
    for service, status in view.services:
        ratio = page.uptime[service.id].ratio
        services.append(
            {
                "slug": service.slug,
                "name": service.name,
                "status": status.value,
                # Rounded down like the page's figure; null when the service has no history yet.
                "uptime_90_days": None if ratio is None else math.floor(ratio * 10000) / 100,
            }
        )
    updated_at = page.updated_at
    return {
        "page": {
            "name": view.tenant.name,
            "slug": view.tenant.slug,
            "url": url,
            "updated_at": updated_at.isoformat() if updated_at else None,
        },
        "status": {"indicator": view.overall.value, "description": OVERALL_LABELS[view.overall]},
        "services": services,
        "incidents": [_bulletin(b) for b in page.notices],
        "maintenance": [_bulletin(b) for b in page.maintenance],
    }
