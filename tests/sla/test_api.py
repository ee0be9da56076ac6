"""SLA over real HTTP: contracts (and every refusal kind), clocks on incidents, the report, the filter.

The served app's scanner is off in this module (``sla_scanner_max_sleep_seconds=0``): tests that need
alerts call ``scan_once`` themselves, so nothing happens behind their back.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import Engine, text

from domain.db import Database
from domain.incidents import handling
from domain.incidents import service as incidents
from domain.incidents.enums import HoldReason, Impact, ResolutionCode, Urgency
from domain.settings import Settings
from domain.sla.scanner import scan_once
from domain.tenancy.roles import ALL_SCOPES, Role
from tests import factories as f
from tests.sla.support import (
    CLOCK_FIELDS,
    CONTRACT_FIELDS,
    backdate,
    contract_input,
    create_contract,
    events_of,
)

CREATE = f"""
mutation($input: SlaContractInput!) {{
  createSlaContract(input: $input) {{ contract {{ {CONTRACT_FIELDS} }} userErrors {{ field message code }} }}
}}
"""
CLOCKS = f"""
query($id: ID!) {{
  node(id: $id) {{ ... on Incident {{ number responseSla {{ {CLOCK_FIELDS} }} resolutionSla {{ {CLOCK_FIELDS} }} }} }}
}}
"""
REPORT = """
query($tenant: ID, $from: DateTime!, $to: DateTime!) {
  slaReport(tenant: $tenant, from: $from, to: $to) {
    tenant { slug } from to incidents responseCompliancePercent resolutionCompliancePercent
    meanTimeToRespondMinutes meanTimeToResolveMinutes averageSatisfaction
    byPriority { priority incidents responseMet resolutionMet breached meanTimeToRespondMinutes
                 meanTimeToResolveMinutes }
  }
}
"""


@dataclass
class World:
    acme: uuid.UUID
    globex: uuid.UUID
    tokens: dict[str, str]
    actors: dict[str, Any]


@pytest.fixture(scope="module")
def settings(test_db: Any) -> Settings:
    return f.settings_for(test_db, sla_scanner_max_sleep_seconds=0, auto_close_interval_seconds=0)


@pytest_asyncio.fixture(scope="module")
async def world(db: Database, settings: Settings) -> AsyncIterator[World]:
    acme = await f.create_tenant(db, "acme")
    globex = await f.create_tenant(db, "globex")
    initech = await f.create_tenant(db, "initech", timezone="Europe/Berlin")
    hooli = await f.create_tenant(db, "hooli")  # never has a contract
    await f.add_member(db, acme.id, "mona", Role.MANAGER)
    await f.add_member(db, acme.id, "alice", Role.AGENT)
    await f.add_member(db, acme.id, "carl", Role.CUSTOMER)
    await f.add_member(db, globex.id, "gina", Role.MANAGER)
    await f.add_member(db, initech.id, "ivan", Role.MANAGER)
    await f.add_member(db, initech.id, "iris", Role.CUSTOMER)
    await f.add_member(db, hooli.id, "hank", Role.AGENT)
    tokens = await f.mint_tokens(settings, db, "mona", "alice", "carl", "gina", "ivan", "iris", "hank")
    tokens["iris-no-sla"] = await f.mint_token(settings, db, "iris", scopes=ALL_SCOPES - {"sla:read"})
    tokens["mona-readonly"] = await f.mint_token(settings, db, "mona", scopes=ALL_SCOPES - {"sla:write"})
    tokens["carl-no-sla"] = await f.mint_token(settings, db, "carl", scopes=ALL_SCOPES - {"sla:read"})
    actors = {
        "mona": f.actor("mona", {acme.id: Role.MANAGER}),
        "alice": f.actor("alice", {acme.id: Role.AGENT}),
        "carl": f.actor("carl", {acme.id: Role.CUSTOMER}),
        "gina": f.actor("gina", {globex.id: Role.MANAGER}),
        "hank": f.actor("hank", {hooli.id: Role.AGENT}),
    }
    # acme's contract: 24x7 in UTC, pausing while waiting on the customer or a vendor, at risk at 80 %.
    await create_contract(
        db,
        actors["mona"],
        acme.id,
        effective_from=datetime(2020, 1, 1, tzinfo=UTC),
        pause_on=(HoldReason.AWAITING_CUSTOMER, HoldReason.AWAITING_VENDOR),
        at_risk_percent=80,
    )
    yield World(acme.id, globex.id, tokens, actors)


@pytest.fixture(scope="module")
def live(test_db: Any, settings: Settings, world: World) -> Iterator[f.LiveApp]:
    with f.app_server(test_db, settings) as served:
        yield served


def create(live: f.LiveApp, token: str, **fields: Any) -> dict[str, Any]:
    data = live.gql_ok(token, CREATE, {"input": contract_input(**fields)})
    payload: dict[str, Any] = data["createSlaContract"]
    return payload


def contract_count(owner: Engine) -> int:
    with owner.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM sla_contracts")).scalar_one())


# ---------------------------------------------------------------- contracts


def test_a_manager_creates_a_contract_and_members_read_it(live: f.LiveApp, world: World) -> None:
    hours = [
        {"weekday": day, "start": start, "end": end}
        for day in range(1, 6)
        for start, end in (("08:00", "12:00"), ("13:00", "17:30"))
    ] + [{"weekday": 6, "start": "22:00", "end": "24:00"}]
    payload = create(
        live,
        world.tokens["ivan"],
        tenant="initech",
        name="Gold",
        timezone="Europe/Berlin",
        businessHours=hours,
        holidays=["2026-12-25", "2026-01-01", "2026-12-25"],
        pauseOn=["AWAITING_VENDOR", "AWAITING_CUSTOMER"],
        atRiskPercent=80,
        effectiveFrom="2026-01-01T00:00:00+01:00",
        effectiveTo="2030-01-01T00:00:00+01:00",
    )
    assert payload["userErrors"] == []
    contract = payload["contract"]
    assert contract["name"] == "Gold" and contract["tenant"] == {"slug": "initech"}
    assert contract["effectiveFrom"] == "2025-12-31T23:00:00Z"  # any offset in, UTC out
    assert contract["effectiveTo"] == "2029-12-31T23:00:00Z"
    assert contract["holidays"] == ["2026-01-01", "2026-12-25"]
    assert contract["pauseOn"] == ["AWAITING_CUSTOMER", "AWAITING_VENDOR"]
    assert contract["atRiskPercent"] == 80
    assert len(contract["businessHours"]) == 11
    assert contract["businessHours"][0] == {"weekday": 1, "start": "08:00", "end": "12:00"}
    assert contract["businessHours"][-1] == {"weekday": 6, "start": "22:00", "end": "24:00"}
    assert [t["priority"] for t in contract["targets"]] == ["P1", "P2", "P3", "P4", "P5"]

    for who in ("ivan", "iris"):
        data = live.gql_ok(
            world.tokens[who],
            "{ slaContracts { id name } tenants { edges { node { slaContract { id } } } } }",
        )
        assert data["slaContracts"] == [{"id": contract["id"], "name": "Gold"}]
        assert data["tenants"]["edges"][0]["node"]["slaContract"] == {"id": contract["id"]}
    node = live.gql_ok(
        world.tokens["iris"],
        "query($id: ID!) { node(id: $id) { ... on SlaContract { name } } }",
        {"id": contract["id"]},
    )
    assert node["node"] == {"name": "Gold"}
    # Another tenant's member sees nothing of it, by id or by listing.
    other = live.gql_ok(
        world.tokens["gina"],
        'query($id: ID!) { node(id: $id) { id } slaContracts(tenant: "initech") { id } }',
        {"id": contract["id"]},
    )
    assert other == {"node": None, "slaContracts": []}
    # Without sla:read, a member sees no contract either.
    hidden = live.gql_ok(
        world.tokens["iris-no-sla"],
        "{ slaContracts { id } tenants { edges { node { slaContract { id } } } } }",
    )
    assert hidden["slaContracts"] == [] and hidden["tenants"]["edges"][0]["node"]["slaContract"] is None


def test_adjacent_windows_are_accepted_and_overlapping_ones_refused(
    live: f.LiveApp, world: World, owner: Engine
) -> None:
    token = world.tokens["gina"]
    first = create(live, token, effectiveFrom="2020-01-01T00:00:00Z", effectiveTo="2021-01-01T00:00:00Z")
    assert first["userErrors"] == []
    adjacent = create(live, token, effectiveFrom="2021-01-01T00:00:00Z", effectiveTo="2022-01-01T00:00:00Z")
    assert adjacent["userErrors"] == []
    before = contract_count(owner)
    for window in (
        {"effectiveFrom": "2020-06-01T00:00:00Z", "effectiveTo": "2020-07-01T00:00:00Z"},  # inside
        {"effectiveFrom": "2019-01-01T00:00:00Z", "effectiveTo": "2020-01-01T00:00:01Z"},  # one second in
        {"effectiveFrom": "2021-12-31T23:59:59Z"},  # open-ended, starting inside
        {"effectiveFrom": "2019-01-01T00:00:00Z"},  # open-ended, covering both
    ):
        refused = create(live, token, **window)
        assert refused["contract"] is None
        assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [
            ("INVALID", ["input", "effectiveFrom"])
        ]
        assert "overlaps" in refused["userErrors"][0]["message"]
    assert contract_count(owner) == before
    open_ended = create(live, token, effectiveFrom="2022-01-01T00:00:00Z")
    assert open_ended["userErrors"] == []
    assert create(live, token, effectiveFrom="2040-01-01T00:00:00Z")["userErrors"][0]["code"] == "INVALID"


def _targets(*rows: tuple[str, int, int]) -> list[dict[str, Any]]:
    return [{"priority": p, "responseMinutes": r, "resolutionMinutes": s} for p, r, s in rows]


ALL = [("P1", 30, 240), ("P2", 60, 480), ("P3", 240, 1440), ("P4", 480, 2400), ("P5", 960, 4800)]

# (case, input changes, expected (code, field) of the first user error)
REFUSALS: list[tuple[str, dict[str, Any], tuple[str, list[str]]]] = [
    ("blank name", {"name": "  "}, ("INVALID", ["input", "name"])),
    ("name too long", {"name": "x" * 201}, ("INVALID", ["input", "name"])),
    ("a priority without targets", {"targets": _targets(*ALL[:4])}, ("INVALID", ["input", "targets"])),
    (
        "a priority twice",
        {"targets": _targets(*ALL, ("P1", 10, 20))},
        ("INVALID", ["input", "targets", "5", "priority"]),
    ),
    (
        "response above resolution",
        {"targets": _targets(("P1", 300, 240), *ALL[1:])},
        ("INVALID", ["input", "targets", "0", "responseMinutes"]),
    ),
    (
        "a zero target",
        {"targets": _targets(*ALL[:4], ("P5", 0, 100))},
        ("INVALID", ["input", "targets", "4", "responseMinutes"]),
    ),
    (
        "a negative target",
        {"targets": _targets(("P1", 30, -5), *ALL[1:])},
        ("INVALID", ["input", "targets", "0", "resolutionMinutes"]),
    ),
    ("unknown timezone", {"timezone": "Mars/Olympus_Mons"}, ("INVALID", ["input", "timezone"])),
    ("a file path as timezone", {"timezone": "../../etc/passwd"}, ("INVALID", ["input", "timezone"])),
    (
        "malformed start",
        {"businessHours": [{"weekday": 1, "start": "9am", "end": "17:00"}]},
        ("INVALID", ["input", "businessHours", "0", "start"]),
    ),
    (
        "24:00 as a start",
        {"businessHours": [{"weekday": 1, "start": "24:00", "end": "24:00"}]},
        ("INVALID", ["input", "businessHours", "0", "start"]),
    ),
    (
        "end past midnight",
        {"businessHours": [{"weekday": 1, "start": "09:00", "end": "24:30"}]},
        ("INVALID", ["input", "businessHours", "0", "end"]),
    ),
    (
        "weekday 8",
        {"businessHours": [{"weekday": 8, "start": "09:00", "end": "17:00"}]},
        ("INVALID", ["input", "businessHours", "0", "weekday"]),
    ),
    (
        "weekday 0",
        {"businessHours": [{"weekday": 0, "start": "09:00", "end": "17:00"}]},
        ("INVALID", ["input", "businessHours", "0", "weekday"]),
    ),
    (
        "end before start",
        {"businessHours": [{"weekday": 2, "start": "17:00", "end": "09:00"}]},
        ("INVALID", ["input", "businessHours", "0", "end"]),
    ),
    (
        "empty interval",
        {"businessHours": [{"weekday": 2, "start": "09:00", "end": "09:00"}]},
        ("INVALID", ["input", "businessHours", "0", "end"]),
    ),
    (
        "overlapping intervals",
        {
            "businessHours": [
                {"weekday": 3, "start": "08:00", "end": "12:30"},
                {"weekday": 3, "start": "12:00", "end": "17:00"},
            ]
        },
        ("INVALID", ["input", "businessHours"]),
    ),
    (
        "impossible holiday",
        {"holidays": ["2026-12-25", "2026-02-30"]},
        ("INVALID", ["input", "holidays", "1"]),
    ),
    ("holiday not a date", {"holidays": ["Christmas"]}, ("INVALID", ["input", "holidays", "0"])),
    ("holiday as a week date", {"holidays": ["2026-W01-1"]}, ("INVALID", ["input", "holidays", "0"])),
    ("a zone file, not an IANA name", {"timezone": "localtime"}, ("INVALID", ["input", "timezone"])),
    ("at risk at 0 %", {"atRiskPercent": 0}, ("INVALID", ["input", "atRiskPercent"])),
    ("at risk above 100 %", {"atRiskPercent": 101}, ("INVALID", ["input", "atRiskPercent"])),
    (
        "window ends before it starts",
        {"effectiveFrom": "2031-01-01T00:00:00Z", "effectiveTo": "2030-01-01T00:00:00Z"},
        ("INVALID", ["input", "effectiveTo"]),
    ),
    (
        "empty window",
        {"effectiveFrom": "2031-01-01T00:00:00Z", "effectiveTo": "2031-01-01T00:00:00Z"},
        ("INVALID", ["input", "effectiveTo"]),
    ),
    ("unknown tenant", {"tenant": "nobody"}, ("NOT_FOUND", ["input", "tenant"])),
    ("another tenant", {"tenant": "globex"}, ("NOT_FOUND", ["input", "tenant"])),
]


@pytest.mark.parametrize(("case", "changes", "expected"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_invalid_contracts_are_refused_and_nothing_is_written(
    live: f.LiveApp,
    world: World,
    owner: Engine,
    case: str,
    changes: dict[str, Any],
    expected: tuple[str, list[str]],
) -> None:
    before = contract_count(owner)
    fields = {"tenant": "acme", "effectiveFrom": "2031-01-01T00:00:00Z", **changes}
    payload = create(live, world.tokens["mona"], **fields)
    assert payload["contract"] is None
    first = payload["userErrors"][0]
    assert (first["code"], first["field"]) == expected, payload["userErrors"]
    assert first["message"]
    assert contract_count(owner) == before


def test_several_problems_are_reported_at_once(live: f.LiveApp, world: World) -> None:
    payload = create(
        live,
        world.tokens["mona"],
        tenant="acme",
        name="",
        timezone="Nowhere",
        atRiskPercent=0,
        effectiveFrom="2031-01-01T00:00:00Z",
    )
    fields = {tuple(e["field"]) for e in payload["userErrors"]}
    assert {("input", "name"), ("input", "timezone"), ("input", "atRiskPercent")} <= fields


@pytest.mark.parametrize(
    ("who", "code"),
    [("alice", "FORBIDDEN"), ("carl", "FORBIDDEN"), ("mona-readonly", "FORBIDDEN")],
)
def test_only_managers_with_sla_write_create_contracts(
    live: f.LiveApp, world: World, owner: Engine, who: str, code: str
) -> None:
    before = contract_count(owner)
    payload = create(live, world.tokens[who], tenant="acme", effectiveFrom="2031-01-01T00:00:00Z")
    assert payload["contract"] is None
    assert [e["code"] for e in payload["userErrors"]] == [code]
    assert contract_count(owner) == before


def test_an_instant_without_offset_is_a_request_error(live: f.LiveApp, world: World) -> None:
    body = live.gql(
        world.tokens["mona"],
        CREATE,
        {"input": contract_input(tenant="acme", effectiveFrom="2031-01-01 09:00")},
    )
    assert body.get("data") is None and body["errors"]
    assert "Traceback" not in str(body["errors"])


# ---------------------------------------------------------------- clocks, alerts, filter


async def test_clocks_on_an_incident_pause_on_hold_and_resume(
    live: f.LiveApp, world: World, db: Database, owner: Engine
) -> None:
    carl, alice = world.actors["carl"], world.actors["alice"]
    incident = await f.report(db, carl, world.acme, "VPN down", impact=Impact.HIGH, urgency=Urgency.HIGH)
    gid = f.encode_id("Incident", incident.id)
    fresh = live.gql_ok(world.tokens["carl"], CLOCKS, {"id": gid})["node"]
    response, resolution = fresh["responseSla"], fresh["resolutionSla"]
    assert response["targetMinutes"] == 30 and resolution["targetMinutes"] == 240
    assert response["state"] == "RUNNING" and response["elapsedMinutes"] == 0 and not response["atRisk"]
    assert response["priority"] == "P1"
    due = datetime.fromisoformat(response["dueAt"])
    assert abs(due - (incident.reported_at + timedelta(minutes=30))) < timedelta(seconds=1)

    await incidents.acknowledge_incident(db, alice, incident_id=incident.id, expected_version=None)
    await handling.put_incident_on_hold(
        db,
        alice,
        incident_id=incident.id,
        expected_version=None,
        reason=HoldReason.AWAITING_VENDOR,
        note=None,
    )
    # acme's contract pauses for the vendor too. Two hours pass on hold:
    backdate(owner, incident.id, timedelta(hours=2))
    held = live.gql_ok(world.tokens["alice"], CLOCKS, {"id": gid})["node"]
    assert held["responseSla"]["state"] == "MET" and held["responseSla"]["stopped"]
    assert held["resolutionSla"]["state"] == "PAUSED" and held["resolutionSla"]["dueAt"] is None
    await handling.resume_incident(db, alice, incident_id=incident.id, expected_version=None)
    resumed = live.gql_ok(world.tokens["alice"], CLOCKS, {"id": gid})["node"]["resolutionSla"]
    assert resumed["state"] == "RUNNING"
    assert resumed["elapsedMinutes"] == 0  # the two hours on hold were not counted
    assert resumed["remainingMinutes"] in (239, 240)

    # Customers without sla:read, and incidents no contract governs, show no clock.
    hidden = live.gql_ok(world.tokens["carl-no-sla"], CLOCKS, {"id": gid})["node"]
    assert hidden["responseSla"] is None and hidden["resolutionSla"] is None
    hank = world.actors["hank"]
    bare = await f.report(db, hank, next(iter(hank.tenant_ids)), "No contract")
    none = live.gql_ok(world.tokens["hank"], CLOCKS, {"id": f.encode_id("Incident", bare.id)})["node"]
    assert none["responseSla"] is None and none["resolutionSla"] is None


async def test_a_breach_is_recorded_once_internal_and_found_by_the_filter(
    live: f.LiveApp, world: World, db: Database, owner: Engine
) -> None:
    carl = world.actors["carl"]
    late = await f.report(db, carl, world.acme, "Nobody answered", impact=Impact.HIGH, urgency=Urgency.HIGH)
    on_time = await f.report(
        db, carl, world.acme, "Answered at once", impact=Impact.HIGH, urgency=Urgency.HIGH
    )
    await incidents.acknowledge_incident(
        db, world.actors["alice"], incident_id=on_time.id, expected_version=None
    )
    backdate(owner, late.id, timedelta(minutes=45))  # P1 response: 30 minutes, at risk from 24 (80 %)
    await scan_once(db)
    await scan_once(db)  # a second pass records nothing more
    alerts = events_of(owner, late.id, "SLA_AT_RISK", "SLA_BREACHED")
    assert [(e["kind"], e["visibility"], e["data"]["clock"]) for e in alerts] == [
        ("SLA_AT_RISK", "INTERNAL", "response"),
        ("SLA_BREACHED", "INTERNAL", "response"),
    ]
    assert alerts[0]["actor"] is None
    assert events_of(owner, on_time.id, "SLA_AT_RISK", "SLA_BREACHED") == []

    query = (
        "query($b: Boolean!) { incidents(first: 100, filter: {slaBreached: $b}) { edges { node { id } } } }"
    )
    breached = live.gql_ok(world.tokens["alice"], query, {"b": True})["incidents"]["edges"]
    others = live.gql_ok(world.tokens["alice"], query, {"b": False})["incidents"]["edges"]
    assert f.encode_id("Incident", late.id) in [e["node"]["id"] for e in breached]
    assert f.encode_id("Incident", on_time.id) not in [e["node"]["id"] for e in breached]
    assert f.encode_id("Incident", on_time.id) in [e["node"]["id"] for e in others]
    # The alerts are INTERNAL: the customer's timeline does not show them, the agent's does.
    timeline = "query($id: ID!) { node(id: $id) { ... on Incident { timeline(first: 50) { edges { node { kind } } } } } }"
    gid = f.encode_id("Incident", late.id)
    seen_by_carl = [
        e["node"]["kind"]
        for e in live.gql_ok(world.tokens["carl"], timeline, {"id": gid})["node"]["timeline"]["edges"]
    ]
    seen_by_alice = [
        e["node"]["kind"]
        for e in live.gql_ok(world.tokens["alice"], timeline, {"id": gid})["node"]["timeline"]["edges"]
    ]
    assert "SLA_BREACHED" not in seen_by_carl and "SLA_BREACHED" in seen_by_alice


async def test_the_breached_filter_is_index_backed(db: Database, owner: Engine) -> None:
    # A tenant with thousands of incidents of which a few breached: the listing's filter must not read
    # them all. (On a near-empty table the planner may rightly prefer any index; volume decides.)
    bulk = await f.create_tenant(db, "bulk")
    with owner.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO incidents (tenant_id, id, number, title, description, status, source, impact,"
                " urgency, priority, priority_overridden, major, reported_by, reported_by_issuer,"
                " sla_breached, version, reported_at, updated_at)"
                " SELECT :t, gen_random_uuid(), g, 'bulk', '', 'NEW', 'MONITORING', 'LOW', 'LOW', 'P5',"
                " false, false, 'bulk', 'bulk', g % 500 = 0, 1, now() - g * interval '1 minute', now()"
                " FROM generate_series(1, 5000) g"
            ),
            {"t": bulk.id},
        )
        connection.execute(text("ANALYZE incidents"))
    with owner.connect() as connection:
        plan = "\n".join(
            row[0]
            for row in connection.execute(
                text(
                    "EXPLAIN SELECT id FROM incidents WHERE tenant_id IN (:t) AND sla_breached IS true"
                    " ORDER BY reported_at DESC, id DESC LIMIT 21"
                ),
                {"t": bulk.id},
            )
        )
    assert "ix_incidents_sla_breached" in plan, plan


# ---------------------------------------------------------------- the report


async def test_the_report_over_http(live: f.LiveApp, world: World, db: Database, owner: Engine) -> None:
    alice, carl = world.actors["alice"], world.actors["carl"]
    answered = await f.report(
        db, carl, world.acme, "Report: answered", impact=Impact.LOW, urgency=Urgency.LOW
    )
    start = answered.reported_at  # incidents of earlier tests were reported before
    await incidents.acknowledge_incident(db, alice, incident_id=answered.id, expected_version=None)
    await handling.resolve_incident(
        db, alice, incident_id=answered.id, expected_version=None, code=ResolutionCode.FIXED, notes="done"
    )
    await handling.rate_incident(db, carl, incident_id=answered.id, score=4, comment=None)
    cancelled = await f.report(
        db, carl, world.acme, "Report: cancelled", impact=Impact.LOW, urgency=Urgency.LOW
    )
    await handling.cancel_incident(
        db, carl, incident_id=cancelled.id, expected_version=None, reason="never mind"
    )
    end = datetime.now(UTC) + timedelta(minutes=1)
    variables = {"tenant": "acme", "from": start.isoformat(), "to": end.isoformat()}
    for who in ("mona", "carl"):  # a customer reads their own tenant's report
        report = live.gql_ok(world.tokens[who], REPORT, variables)["slaReport"]
        assert report["tenant"] == {"slug": "acme"}
        assert report["incidents"] == 1  # the cancelled one is left out
        assert report["responseCompliancePercent"] == 100.0
        assert report["resolutionCompliancePercent"] == 100.0
        assert report["averageSatisfaction"] == 4.0
        assert 0 <= report["meanTimeToResolveMinutes"] < 1
        p5 = next(p for p in report["byPriority"] if p["priority"] == "P5")
        assert (p5["incidents"], p5["responseMet"], p5["resolutionMet"], p5["breached"]) == (1, 1, 1, 0)
        assert [p["priority"] for p in report["byPriority"]] == ["P1", "P2", "P3", "P4", "P5"]
    empty = live.gql_ok(
        world.tokens["mona"],
        REPORT,
        {**variables, "from": "2000-01-01T00:00:00Z", "to": "2000-02-01T00:00:00Z"},
    )
    assert empty["slaReport"]["incidents"] == 0 and empty["slaReport"]["responseCompliancePercent"] is None


@pytest.mark.parametrize(
    ("who", "tenant", "window", "code"),
    [
        ("gina", "acme", None, "NOT_FOUND"),  # another tenant answers like a missing one
        ("carl", "nobody", None, "NOT_FOUND"),
        ("carl-no-sla", "acme", None, "FORBIDDEN"),
        ("mona", "acme", ("2026-02-01T00:00:00Z", "2026-01-01T00:00:00Z"), "INVALID"),
        ("mona", "acme", ("2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"), "INVALID"),
    ],
)
def test_report_refusals(
    live: f.LiveApp, world: World, who: str, tenant: str, window: tuple[str, str] | None, code: str
) -> None:
    start, end = window or ("2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z")
    body = live.gql(world.tokens[who], REPORT, {"tenant": tenant, "from": start, "to": end})
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == [code]


TRENDS = """
query($tenant: ID, $from: DateTime!, $to: DateTime!, $interval: TrendInterval, $groupBy: TrendGrouping) {
  incidentTrends(tenant: $tenant, from: $from, to: $to, interval: $interval, groupBy: $groupBy) {
    periodStart service { name } category priority incidents meanTimeToRespondMinutes
    meanTimeToResolveMinutes breachRatePercent averageSatisfaction
  }
}"""


async def test_trends_over_http(live: f.LiveApp, world: World, db: Database) -> None:
    mona, carl = world.actors["mona"], world.actors["carl"]
    mail = await f.create_service(db, mona, world.acme, "Trends mail")
    first = await f.report(db, carl, world.acme, "Trends: mail down", service_id=mail.id)
    await f.report(db, carl, world.acme, "Trends: mail slow", service_id=mail.id)
    await f.report(db, carl, world.acme, "Trends: no service")
    variables = {
        "tenant": "acme",
        "from": first.reported_at.isoformat(),
        "to": (datetime.now(UTC) + timedelta(minutes=1)).isoformat(),
        "interval": "MONTH",
        "groupBy": "SERVICE",
    }
    buckets = live.gql_ok(world.tokens["mona"], TRENDS, variables)["incidentTrends"]
    by_service = {(b["service"] or {}).get("name"): b for b in buckets}
    assert by_service["Trends mail"]["incidents"] == 2 and by_service[None]["incidents"] == 1
    assert all(b["periodStart"].endswith("-01") for b in buckets)  # months start on their first day
    assert all(b["breachRatePercent"] == 0.0 for b in buckets)  # governed by acme's contract, none breached
    body = live.gql(world.tokens["carl-no-sla"], TRENDS, variables)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
    body = live.gql(
        world.tokens["mona"], TRENDS, {**variables, "interval": "DAY", "from": "2026-01-01T00:00:00Z"}
    )
    assert [e["extensions"]["code"] for e in body["errors"]] == ["LIMIT_EXCEEDED"]
