"""The status page's templates (``api/templates/status*``) and what they are given to read.

Jinja2 escapes every value it writes (``autoescape``): HTML, Atom, RSS and SVG alike, since the escapes
of HTML are valid XML. A status's and a phase's words are the domain's (``domain/bulletins/labels.py``),
which the live script (``/static/status.js``) and the mails to subscribers use too.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from email.utils import format_datetime
from fractions import Fraction

import jinja2
from starlette.templating import Jinja2Templates

from api.relay import encode_id
from api.templating import environment
from domain.bulletins.labels import PHASE_LABELS, STATUS_LABELS
from domain.bulletins.phases import ServiceStatus
from domain.bulletins.uptime import Day

OVERALL_LABELS = {
    ServiceStatus.OPERATIONAL: "All systems operational",
    ServiceStatus.DEGRADED_PERFORMANCE: "Degraded performance",
    ServiceStatus.PARTIAL_OUTAGE: "Partial outage",
    ServiceStatus.MAJOR_OUTAGE: "Major outage",
    ServiceStatus.UNDER_MAINTENANCE: "Maintenance in progress",
}
# The badge's colours, by overall status (the page's own colours are in status.css).
BADGE_COLOURS = {
    ServiceStatus.OPERATIONAL: "#2e7d32",
    ServiceStatus.DEGRADED_PERFORMANCE: "#b26a00",
    ServiceStatus.PARTIAL_OUTAGE: "#c24e00",
    ServiceStatus.MAJOR_OUTAGE: "#b00020",
    ServiceStatus.UNDER_MAINTENANCE: "#1f4fa3",
}


def percent(ratio: Fraction | None) -> str:
    """An uptime as the page writes it: rounded down to two decimals, so that any down time at all
    never reads as 100%."""
    if ratio is None:
        return "No data yet"
    return f"{math.floor(ratio * 10000) / 100:.2f}%"


def utc(at: datetime | None) -> str:
    return "" if at is None else at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def iso(at: datetime | date) -> str:
    return at.astimezone(UTC).isoformat() if isinstance(at, datetime) else at.isoformat()


def rfc822(at: datetime) -> str:
    """RSS's dates (RFC 822, as amended by RFC 1123)."""
    return format_datetime(at.astimezone(UTC), usegmt=True)


def day_title(day: Day) -> str:
    """A bar's hover text: the day and its minutes per status, worst first."""
    if not day.minutes:
        return f"{day.day.isoformat()}: no data"
    lines = [day.day.isoformat()]
    for status in sorted(day.minutes, key=list(STATUS_LABELS).index, reverse=True):
        minutes = day.minutes[status]
        lines.append(f"{STATUS_LABELS[status]}: {minutes if minutes else '<1'} min")
    return "\n".join(lines)


def text_width(text: str) -> int:
    """An estimate of ``text``'s width in pixels in the badge's 11px sans-serif: enough to size the
    badge without a font at hand."""
    return round(sum(4.0 if c in "ilI.,:;| " else 7.5 if c.isupper() else 6.5 for c in text))


def _environment() -> jinja2.Environment:
    env = environment()
    env.globals.update(
        STATUS_LABELS=STATUS_LABELS,
        OVERALL_LABELS=OVERALL_LABELS,
        PHASE_LABELS=PHASE_LABELS,
        BADGE_COLOURS=BADGE_COLOURS,
    )
    env.filters.update(
        percent=percent,
        utc=utc,
        iso=iso,
        rfc822=rfc822,
        day_title=day_title,
        text_width=text_width,
        service_id=lambda service_id: encode_id("Service", service_id),
    )
    return env


templates = Jinja2Templates(env=_environment())
