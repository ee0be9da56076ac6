"""The demo's billing: a month of work logged on the seeded incidents, and the requests that read it.

The demo's incidents are reported when it runs and work is never dated before its incident, so the
month seeded is the current one: its work report is non-empty from the first run.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from auth import Principal
from domain.billing import worklog
from domain.db import Database
from domain.incidents.models import Incident

# (minutes, billable, note, by the manager rather than the agent), logged on every incident given.
WORK: tuple[tuple[int, bool, str, bool], ...] = (
    (35, True, "Reproduced the problem and read the logs", False),
    (50, True, "Applied and verified the fix", False),
    (15, False, "Internal handover to the next shift", False),
    (20, True, "Call with the customer about the impact", True),
)

WORK_REPORT_QUERY = (
    'query($from: Date!, $to: Date!) { workReport(tenant: "acme", from: $from, to: $to,'
    " groupBy: [SERVICE, AGENT]) { total { billableMinutes nonBillableMinutes entries }"
    " rows { service { name } agent billableMinutes nonBillableMinutes } } }"
)


async def seed_work(db: Database, agent: Principal, manager: Principal, incidents: Sequence[Incident]) -> int:
    """Log the demo's work on each incident (still open or resolved); the number of entries logged."""
    logged = 0
    for incident in incidents:
        for minutes, billable, note, by_manager in WORK:
            await worklog.log_work(
                db,
                manager if by_manager else agent,
                incident_id=incident.id,
                minutes=minutes,
                note=note,
                billable=billable,
            )
            logged += 1
    return logged


def this_month(timezone: str, now: datetime) -> tuple[date, date]:
    """The first and last day of the month ``now`` falls in, in ``timezone``."""
    today = now.astimezone(ZoneInfo(timezone)).date()
    first = today.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following - timedelta(days=1)


def render_lines(url: str, timezone: str, now: datetime) -> list[str]:
    """Requests for this month's work at acme: the GraphQL report and its CSV export."""
    first, last = this_month(timezone, now)
    body = json.dumps(
        {"query": WORK_REPORT_QUERY, "variables": {"from": first.isoformat(), "to": last.isoformat()}},
        separators=(",", ":"),
    )
    csv_url = f"{url}/reports/acme/work.csv?from={first}&to={last}&groupBy=INCIDENT,AGENT"
    return [
        "# This month's billable and non-billable work at acme, per service and agent:",
        f'curl -s {url}/graphql -H "authorization: Bearer $MALLORY_TOKEN"'
        f" -H 'content-type: application/json' -d {shlex.quote(body)}",
        "# The same month as CSV for the invoice, per incident and agent:",
        f'curl -s -H "authorization: Bearer $MALLORY_TOKEN" {shlex.quote(csv_url)}',
    ]
