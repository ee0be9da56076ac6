"""The work report over GraphQL and as CSV, and the SLA export, through real HTTP: the tenant's timezone
and inclusive days, what customers may group by, the refusals, RFC 4180 output safe from spreadsheet
formulas, and the exports giving the same figures as the GraphQL reports."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import Engine, text

from domain.db import Database
from domain.incidents import handling
from domain.incidents import service as incidents
from domain.incidents.enums import Impact, ResolutionCode, Urgency
from domain.settings import Settings
from domain.tenancy.roles import Role
from tests import factories as f
from tests.billing.support import World, export, log, read_csv, reported_on, seed_world, work_report
from tests.sla.support import create_contract

REPORTED = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
WORK = "/reports/acme/work.csv"
SLA = "/reports/acme/sla.csv"


@dataclass
class Seeded:
    world: World
    incidents: dict[str, dict[str, Any]]
    services: dict[str, uuid.UUID]


@pytest_asyncio.fixture(scope="module")
async def seeded(db: Database, settings: Settings, live: f.LiveApp, owner: Engine) -> Seeded:
    world = await seed_world(db, settings)
    mona = f.actor("mona", {world.acme: Role.MANAGER, world.globex: Role.MANAGER})
    services = {
        name: (await f.create_service(db, mona, world.acme, name)).id for name in ("Payments", "=SUM(A1:A9)")
    }
    carol = world.tokens["carol"]

    def service(name: str) -> str:
        return f.encode_id("Service", services[name])

    found = {
        "payments": reported_on(
            live, owner, carol, "-rm -rf checkout", REPORTED, serviceId=service("Payments")
        ),
        "formula": reported_on(
            live, owner, carol, "@here outage", REPORTED, serviceId=service("=SUM(A1:A9)")
        ),
        "plain": reported_on(live, owner, carol, 'Quote "this", please', REPORTED),
    }
    alice, bob, mona_token = world.tokens["alice"], world.tokens["bob"], world.tokens["mona"]
    log(live, alice, found["payments"]["id"], 30, workedAt="2026-03-02T09:00:00Z", note="=secret note")
    log(live, bob, found["payments"]["id"], 15, billable=False, workedAt="2026-03-02T10:00:00Z")
    log(live, alice, found["payments"]["id"], 60, workedAt="2026-03-09T09:00:00Z")
    # Berlin is UTC+2 from 29 March: 21:30 UTC is 23:30 on 31 March, 22:30 UTC is already 1 April.
    log(live, alice, found["formula"]["id"], 20, workedAt="2026-03-31T21:30:00Z")
    log(live, mona_token, found["formula"]["id"], 45, workedAt="2026-03-31T22:30:00Z")
    log(live, bob, found["plain"]["id"], 10, workedAt="2026-04-15T12:00:00Z")
    return Seeded(world=world, incidents=found, services=services)


def _rows(body: dict[str, Any]) -> list[dict[str, Any]]:
    assert not body.get("errors"), body["errors"]
    rows: list[dict[str, Any]] = body["data"]["workReport"]["rows"]
    return rows


def _error_code(body: dict[str, Any]) -> str:
    assert body.get("errors"), body
    code: str = body["errors"][0]["extensions"]["code"]
    return code


def test_work_counts_on_its_local_day_and_to_is_included(live: f.LiveApp, seeded: Seeded) -> None:
    alice = seeded.world.tokens["alice"]
    march = work_report(live, alice, "acme", "2026-03-01", "2026-03-31", ["AGENT"])
    assert march["data"]["workReport"]["total"] == {
        "billableMinutes": 110,
        "nonBillableMinutes": 15,
        "entries": 4,
    }
    assert [
        (r["agent"], r["billableMinutes"], r["nonBillableMinutes"], r["entries"]) for r in _rows(march)
    ] == [
        ("alice", 110, 0, 3),
        ("bob", 0, 15, 1),
    ]
    # mona's 45 minutes at 00:30 on 1 April, Berlin time, count in April
    april_first = work_report(live, alice, "acme", "2026-04-01", "2026-04-01", [])
    assert _rows(april_first) == [
        {
            "agent": None,
            "day": None,
            "week": None,
            "weekStart": None,
            "month": None,
            "billableMinutes": 45,
            "nonBillableMinutes": 0,
            "entries": 1,
            "incident": None,
            "service": None,
        }
    ]


def test_groups_by_day_iso_week_and_month(live: f.LiveApp, seeded: Seeded) -> None:
    body = work_report(
        live, seeded.world.tokens["mona"], "acme", "2026-03-01", "2026-04-30", ["MONTH", "WEEK", "DAY"]
    )
    assert [(r["month"], r["week"], r["weekStart"], r["day"], r["billableMinutes"]) for r in _rows(body)] == [
        ("2026-03", "2026-W10", "2026-03-02", "2026-03-02", 30),
        ("2026-03", "2026-W11", "2026-03-09", "2026-03-09", 60),
        ("2026-03", "2026-W14", "2026-03-30", "2026-03-31", 20),
        ("2026-04", "2026-W14", "2026-03-30", "2026-04-01", 45),
        ("2026-04", "2026-W16", "2026-04-13", "2026-04-15", 10),
    ]


def test_groups_by_incident_and_service(live: f.LiveApp, seeded: Seeded) -> None:
    body = work_report(
        live, seeded.world.tokens["carol"], "acme", "2026-03-01", "2026-04-30", ["SERVICE", "INCIDENT"]
    )
    rows = [
        (
            r["service"] and r["service"]["name"],
            r["incident"]["title"],
            r["billableMinutes"],
            r["nonBillableMinutes"],
        )
        for r in _rows(body)
    ]
    assert rows == [
        ("=SUM(A1:A9)", "@here outage", 65, 0),
        ("Payments", "-rm -rf checkout", 90, 15),
        (None, 'Quote "this", please', 10, 0),
    ]


@pytest.mark.parametrize(
    ("who", "tenant", "start", "end", "group_by", "code"),
    [
        ("carol", "acme", "2026-03-01", "2026-03-31", ["AGENT"], "FORBIDDEN"),  # customers: never per agent
        ("carol", "acme", "2026-03-01", "2026-03-31", ["INCIDENT", "AGENT"], "FORBIDDEN"),
        ("alice-no-read", "acme", "2026-03-01", "2026-03-31", [], "FORBIDDEN"),
        ("nina", "acme", "2026-03-01", "2026-03-31", [], "NOT_FOUND"),  # another tenant, as if absent
        ("alice", "nobody", "2026-03-01", "2026-03-31", [], "NOT_FOUND"),
        ("alice", "acme", "2026-03-31", "2026-03-01", [], "INVALID"),
        ("alice", "acme", "2025-01-01", "2026-01-02", [], "LIMIT_EXCEEDED"),  # 366 days at most
        ("alice", "acme", "2026-03-01", "2026-03-31", ["DAY", "DAY"], "INVALID"),
    ],
)
def test_report_refusals(
    live: f.LiveApp,
    seeded: Seeded,
    who: str,
    tenant: str,
    start: str,
    end: str,
    group_by: list[str],
    code: str,
) -> None:
    body = work_report(live, seeded.world.tokens[who], tenant, start, end, group_by)
    assert _error_code(body) == code
    assert body["data"] is None


# ---------------------------------------------------------------- the CSV export


def _as_graphql(row: dict[str, str], group_by: list[str]) -> dict[str, Any]:
    """A CSV record read the way the GraphQL row says the same (text cells unescaped)."""

    def text_of(cell: str) -> str | None:
        if cell == "":
            return None
        return cell[1:] if cell.startswith("'") else cell

    found: dict[str, Any] = {
        "billableMinutes": int(row["billable_minutes"]),
        "nonBillableMinutes": int(row["non_billable_minutes"]),
        "entries": int(row["entries"]),
    }
    for grouping in group_by:
        if grouping == "AGENT":
            found["agent"] = text_of(row["agent"])
        elif grouping == "INCIDENT":
            found["incident"] = (row["incident"], text_of(row["incident_title"]))
        elif grouping == "SERVICE":
            found["service"] = text_of(row["service"])
        elif grouping == "DAY":
            found["day"] = row["day"]
        elif grouping == "WEEK":
            found["week"] = (row["week"], row["week_start"])
        else:
            found["month"] = row["month"]
    return found


def _graphql_rows(rows: list[dict[str, Any]], group_by: list[str]) -> list[dict[str, Any]]:
    keys = {
        "AGENT": lambda r: {"agent": r["agent"]},
        "INCIDENT": lambda r: {"incident": (r["incident"]["number"], r["incident"]["title"])},
        "SERVICE": lambda r: {"service": r["service"] and r["service"]["name"]},
        "DAY": lambda r: {"day": r["day"]},
        "WEEK": lambda r: {"week": (r["week"], r["weekStart"])},
        "MONTH": lambda r: {"month": r["month"]},
    }
    shaped = []
    for r in rows:
        found = {k: r[k] for k in ("billableMinutes", "nonBillableMinutes", "entries")}
        for grouping in group_by:
            found.update(keys[grouping](r))
        shaped.append(found)
    return shaped


@pytest.mark.parametrize(
    "group_by",
    [
        [],
        ["AGENT"],
        ["INCIDENT", "AGENT"],
        ["SERVICE"],
        ["MONTH", "WEEK", "DAY"],
        ["DAY", "SERVICE", "INCIDENT"],
    ],
)
def test_the_work_csv_has_the_figures_of_the_graphql_report(
    live: f.LiveApp, seeded: Seeded, group_by: list[str]
) -> None:
    mona = seeded.world.tokens["mona"]
    graphql = _rows(work_report(live, mona, "acme", "2026-03-01", "2026-04-30", group_by))
    response = export(
        live, mona, WORK, **{"from": "2026-03-01", "to": "2026-04-30", "groupBy": ",".join(group_by)}
    )
    records = read_csv(response)
    assert [_as_graphql(r, group_by) for r in records] == _graphql_rows(graphql, group_by)
    assert 'filename="work-2026-03-01-2026-04-30.csv"' in response.headers["content-disposition"]


def test_the_work_csv_is_rfc_4180_and_safe_from_formulas(live: f.LiveApp, seeded: Seeded) -> None:
    response = export(
        live,
        seeded.world.tokens["mona"],
        WORK,
        **{"from": "2026-03-01", "to": "2026-04-30", "groupBy": "SERVICE,INCIDENT"},
    )
    assert response.status_code == 200
    lines = response.text.split("\r\n")
    assert lines[0] == "service,incident,incident_title,billable_minutes,non_billable_minutes,entries"
    assert lines[-1] == ""  # every record, the last one too, ends with CRLF
    assert lines[1:-1] == [
        "'=SUM(A1:A9),INC-000002,'@here outage,65,0,2",
        "Payments,INC-000001,'-rm -rf checkout,90,15,3",
        ',INC-000003,"Quote ""this"", please",10,0,1',
    ]
    assert "secret" not in response.text  # notes are never exported


def test_the_work_csv_takes_repeated_groupings_and_the_tenants_global_id(
    live: f.LiveApp, seeded: Seeded
) -> None:
    path = f"/reports/{seeded.world.tenant('acme')}/work.csv"
    query = "from=2026-03-01&to=2026-03-31&groupBy=agent&groupBy=DAY"
    headers = {"authorization": f"Bearer {seeded.world.tokens['alice']}"}
    response = httpx.get(f"{live.url}{path}?{query}", headers=headers, timeout=30.0)
    assert read_csv(response)[0] == {
        "agent": "alice",
        "day": "2026-03-02",
        "billable_minutes": "30",
        "non_billable_minutes": "0",
        "entries": "1",
    }


@pytest.mark.parametrize(
    ("who", "path", "params", "status", "code"),
    [
        (None, WORK, {}, 401, "UNAUTHENTICATED"),
        ("not-a-token", WORK, {}, 401, "UNAUTHENTICATED"),
        ("nina", WORK, {}, 404, "NOT_FOUND"),
        ("alice", "/reports/nobody/work.csv", {}, 404, "NOT_FOUND"),
        ("alice-no-read", WORK, {}, 403, "FORBIDDEN"),
        ("carol", WORK, {"groupBy": "INCIDENT,AGENT"}, 403, "FORBIDDEN"),
        ("alice", WORK, {"from": "2026-3-1"}, 400, "INVALID"),
        ("alice", WORK, {"from": None}, 400, "INVALID"),
        ("alice", WORK, {"to": "2026-02-30"}, 400, "INVALID"),
        ("alice", WORK, {"groupBy": "TEAM"}, 400, "INVALID"),
        ("alice", WORK, {"from": "2024-01-01"}, 400, "LIMIT_EXCEEDED"),
        ("alice", SLA, {"to": "2026-02-01"}, 400, "INVALID"),
        ("alice-reader", SLA, {}, 403, "FORBIDDEN"),  # the SLA export needs sla:read
        ("gus", SLA, {}, 404, "NOT_FOUND"),
    ],
)
def test_export_refusals_answer_before_any_csv(
    live: f.LiveApp,
    seeded: Seeded,
    who: str | None,
    path: str,
    params: dict[str, str | None],
    status: int,
    code: str,
) -> None:
    query = {"from": "2026-03-01", "to": "2026-03-31", **params}
    sent = {k: v for k, v in query.items() if v is not None}
    token = seeded.world.tokens.get(who, who) if who else None
    response = export(live, token, path, **sent)
    assert response.status_code == status, response.text
    assert response.json()["errors"][0]["extensions"]["code"] == code


# ---------------------------------------------------------------- the SLA export


SLA_REPORT = """
query($from: DateTime!, $to: DateTime!) {
  slaReport(tenant: "acme", from: $from, to: $to) {
    incidents responseCompliancePercent resolutionCompliancePercent meanTimeToRespondMinutes
    meanTimeToResolveMinutes averageSatisfaction
    byPriority { priority incidents responseMet resolutionMet breached meanTimeToRespondMinutes
                 meanTimeToResolveMinutes responseCompliancePercent resolutionCompliancePercent }
  }
}
"""


def _number(cell: str) -> float | int | None:
    if cell == "":
        return None
    return float(cell) if "." in cell or "e" in cell else int(cell)


async def test_the_sla_csv_has_the_figures_of_the_sla_report_and_a_row_per_incident(
    live: f.LiveApp, seeded: Seeded, db: Database, owner: Engine
) -> None:
    world = seeded.world
    mona = f.actor("mona", {world.acme: Role.MANAGER, world.globex: Role.MANAGER})
    alice = f.actor("alice", {world.acme: Role.AGENT})
    carol = f.actor("carol", {world.acme: Role.CUSTOMER})
    await create_contract(
        db, mona, world.acme, effective_from=datetime(2020, 1, 1, tzinfo=UTC), timezone="Europe/Berlin"
    )
    made = []
    for title, impact, urgency in (
        ("=cmd|' /C calc'!A0", Impact.HIGH, Urgency.HIGH),
        ("Met twice", Impact.LOW, Urgency.LOW),
        ("Still running", Impact.MEDIUM, Urgency.MEDIUM),
        ("Breached", Impact.HIGH, Urgency.MEDIUM),
    ):
        made.append(await f.report(db, carol, world.acme, title, impact=impact, urgency=urgency))
    for incident in made[:2]:
        await incidents.acknowledge_incident(db, alice, incident_id=incident.id, expected_version=None)
        await handling.resolve_incident(
            db,
            alice,
            incident_id=incident.id,
            expected_version=None,
            code=ResolutionCode.FIXED,
            notes="fixed",
        )
    await handling.rate_incident(db, carol, incident_id=made[1].id, score=4, comment=None)
    cancelled = await f.report(db, carol, world.acme, "Never mind")
    await handling.cancel_incident(
        db, carol, incident_id=cancelled.id, expected_version=None, reason="not an incident"
    )
    with owner.begin() as connection:  # a breach, as the scanner would have recorded it
        connection.execute(
            text("UPDATE incident_sla SET response_breached = true WHERE incident_id = :i"), {"i": made[3].id}
        )

    berlin = ZoneInfo("Europe/Berlin")
    today = datetime.now(berlin).date()
    first, last = today - timedelta(days=2), today + timedelta(days=2)
    start = datetime.combine(first, time(), berlin).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(), berlin).astimezone(UTC)
    for who in ("mona", "carol"):  # customers read their own tenant's SLA report and export
        token = world.tokens[who]
        report = live.gql_ok(token, SLA_REPORT, {"from": start.isoformat(), "to": end.isoformat()})[
            "slaReport"
        ]
        records = read_csv(export(live, token, SLA, **{"from": first.isoformat(), "to": last.isoformat()}))
        total = records[0]
        assert total["row"] == "TOTAL"
        assert _number(total["incidents"]) == report["incidents"] == 4  # the cancelled one is left out
        for name, cell in (
            ("responseCompliancePercent", "response_compliance_percent"),
            ("resolutionCompliancePercent", "resolution_compliance_percent"),
            ("meanTimeToRespondMinutes", "mean_time_to_respond_minutes"),
            ("meanTimeToResolveMinutes", "mean_time_to_resolve_minutes"),
            ("averageSatisfaction", "average_satisfaction"),
        ):
            assert _number(total[cell]) == report[name], name
        per_priority = [r for r in records if r["row"] == "PRIORITY"]
        assert [r["priority"] for r in per_priority] == ["P1", "P2", "P3", "P4", "P5"]
        for row, figures in zip(per_priority, report["byPriority"], strict=True):
            for name, cell in (
                ("incidents", "incidents"),
                ("responseMet", "response_met"),
                ("resolutionMet", "resolution_met"),
                ("breached", "breached"),
                ("meanTimeToRespondMinutes", "mean_time_to_respond_minutes"),
                ("meanTimeToResolveMinutes", "mean_time_to_resolve_minutes"),
                ("responseCompliancePercent", "response_compliance_percent"),
                ("resolutionCompliancePercent", "resolution_compliance_percent"),
            ):
                assert _number(row[cell]) == figures[name], (row["priority"], name)

        # one row per incident the report counts, adding up to its figures
        rows = [r for r in records if r["row"] == "INCIDENT"]
        assert [r["title"] for r in rows] == ["'=cmd|' /C calc'!A0", "Met twice", "Still running", "Breached"]
        assert [(r["response"], r["resolution"]) for r in rows] == [
            ("MET", "MET"),
            ("MET", "MET"),
            ("RUNNING", "RUNNING"),
            ("BREACHED", "RUNNING"),
        ]
        assert [r["satisfaction"] for r in rows] == ["", "4", "", ""]
        for figures in report["byPriority"]:
            mine = [r for r in rows if r["priority"] == figures["priority"]]
            assert len(mine) == figures["incidents"]
            assert sum(r["response"] == "MET" for r in mine) == figures["responseMet"]
            assert sum("BREACHED" in (r["response"], r["resolution"]) for r in mine) == figures["breached"]
        assert all(r["response_minutes"] for r in rows[:2]) and not rows[2]["response_minutes"]
