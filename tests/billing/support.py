"""Shared by the billing tests: a provider's customer tenants and their people, billing mutations by
name, the work report over GraphQL and CSV, and a fingerprint of what billing writes.

Work may not be dated before its incident was reported, and only ended months can be closed, so tests
report incidents for real and then move ``reported_at`` back through the owner connection
(``reported_on``): the incident then reads as reported on that day, and work can be logged in months that
are over.
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import Engine, text

from domain.db import Database
from domain.settings import Settings
from domain.tenancy.roles import Role
from tests import factories as f
from tests.incidents.practice import ok

ENTRY = "id author minutes billable note workedAt loggedAt incident { id number }"
INCIDENT = f"id number version timeSpentMinutes workLog {{ {ENTRY} }}"

MUTATIONS = {
    "logWork": ("LogWorkInput", f"incident {{ {INCIDENT} }}"),
    "correctWork": ("CorrectWorkInput", f"entry {{ {ENTRY} }} incident {{ {INCIDENT} }}"),
    "withdrawWork": ("WithdrawWorkInput", f"entry {{ id }} incident {{ {INCIDENT} }}"),
    "closeBillingPeriod": (
        "CloseBillingPeriodInput",
        "billingPeriod { month closedAt closedBy tenant { slug } }",
    ),
}

# People (subject: role by tenant): carol CUSTOMER at acme; alice and bob AGENTs at acme; mona MANAGER at
# acme; nina AGENT at globex only; gus CUSTOMER at globex.
PEOPLE: dict[str, dict[str, Role]] = {
    "carol": {"acme": Role.CUSTOMER},
    "alice": {"acme": Role.AGENT},
    "bob": {"acme": Role.AGENT},
    "mona": {"acme": Role.MANAGER, "globex": Role.MANAGER},
    "nina": {"globex": Role.AGENT},
    "gus": {"globex": Role.CUSTOMER},
}
TIMEZONES = {"acme": "Europe/Berlin", "globex": "America/New_York"}


@dataclass
class World:
    acme: uuid.UUID
    globex: uuid.UUID
    tokens: dict[str, str] = field(default_factory=dict)

    def tenant(self, slug: str) -> str:
        return f.encode_id("Tenant", getattr(self, slug))


async def seed_world(db: Database, settings: Settings) -> World:
    tenants = {slug: (await f.create_tenant(db, slug, timezone=zone)).id for slug, zone in TIMEZONES.items()}
    for subject, roles in PEOPLE.items():
        for slug, role in roles.items():
            await f.add_member(db, tenants[slug], subject, role)
    tokens = await f.mint_tokens(settings, db, *PEOPLE)
    # alice may only read; mona may do everything but manage.
    tokens["alice-reader"] = await f.mint_token(settings, db, "alice", scopes=frozenset({"incidents:read"}))
    tokens["alice-no-read"] = await f.mint_token(settings, db, "alice", scopes=frozenset({"sla:read"}))
    tokens["mona-no-manage"] = await f.mint_token(
        settings, db, "mona", scopes=frozenset({"incidents:read", "incidents:write", "sla:read"})
    )
    return World(**tenants, tokens=tokens)


def mutation(name: str) -> str:
    input_type, selection = MUTATIONS[name]
    return f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ {selection} userErrors {{ field message code }} }} }}"


def call(live: f.LiveApp, token: str, name: str, /, **input: Any) -> dict[str, Any]:
    payload: dict[str, Any] = live.gql_ok(token, mutation(name), {"input": input})[name]
    return payload


def done(live: f.LiveApp, token: str, name: str, /, **input: Any) -> dict[str, Any]:
    """Run a billing mutation and insist it was accepted; its payload."""
    payload = call(live, token, name, **input)
    assert payload["userErrors"] == [], payload["userErrors"]
    return payload


def reported_on(
    live: f.LiveApp, owner: Engine, token: str, title: str, at: datetime, **extra: Any
) -> dict[str, Any]:
    """An incident reported over HTTP, then moved back to read as reported ``at``."""
    reported: dict[str, Any] = ok(live, token, "reportIncident", title=title, description=title, **extra)[
        "incident"
    ]
    with owner.begin() as connection:
        connection.execute(
            text("UPDATE incidents SET reported_at = :at WHERE id = :i"),
            {"at": at, "i": f.row_id(reported["id"])},
        )
    return reported


def log(live: f.LiveApp, token: str, incident_id: str, minutes: int, **extra: Any) -> dict[str, Any]:
    """Log work; the newest entry of the incident (by logging time) and the incident."""
    incident: dict[str, Any] = done(live, token, "logWork", id=incident_id, minutes=minutes, **extra)[
        "incident"
    ]
    entry = max(incident["workLog"], key=lambda e: e["loggedAt"])
    return {"entry": entry, "incident": incident}


BILLED_TABLES = ("work_log", "billing_periods", "incidents", "incident_events", "tenant_counters")


def fingerprint(owner: Engine) -> dict[str, str]:
    """A digest of every row billing may write (read as the owner, whom row-level security leaves alone)."""
    parts = ", ".join(
        f"(SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t) AS {table}"
        for table in BILLED_TABLES
    )
    with owner.connect() as connection:
        return dict(connection.execute(text(f"SELECT {parts}")).mappings().one())


def refused(
    live: f.LiveApp, owner: Engine, token: str, name: str, code: str, /, **input: Any
) -> dict[str, Any]:
    """Run a billing mutation and insist it was refused with ``code``, writing nothing; its one error."""
    before = fingerprint(owner)
    payload = call(live, token, name, **input)
    errors = payload["userErrors"]
    assert len(errors) == 1 and errors[0]["code"] == code, payload
    assert fingerprint(owner) == before, f"{name} was refused ({code}) but wrote something"
    for key, value in payload.items():
        if key != "userErrors":
            assert value is None, payload
    error: dict[str, Any] = errors[0]
    return error


WORK_REPORT = """
query($tenant: ID, $from: Date!, $to: Date!, $groupBy: [WorkReportGrouping!]) {
  workReport(tenant: $tenant, from: $from, to: $to, groupBy: $groupBy) {
    from to groupBy
    total { billableMinutes nonBillableMinutes entries }
    rows {
      agent day week weekStart month billableMinutes nonBillableMinutes entries
      incident { id number title } service { id name }
    }
  }
}
"""


def work_report(
    live: f.LiveApp, token: str, tenant: str, start: str, end: str, group_by: list[str]
) -> dict[str, Any]:
    """The whole response body (``data`` and any ``errors``)."""
    return live.gql(token, WORK_REPORT, {"tenant": tenant, "from": start, "to": end, "groupBy": group_by})


def export(live: f.LiveApp, token: str | None, path: str, **params: str) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.get(f"{live.url}{path}", params=params, headers=headers, timeout=30.0)


def read_csv(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text, newline="")))
