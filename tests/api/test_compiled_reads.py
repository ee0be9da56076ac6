"""Compiled reads answer exactly as the executor does: the differential test.

Two apps serve one database: one answers the queries the read model covers with compiled SQL, the other
sends every query through Strawberry's executor. hypothesis-graphql writes queries from the served
schema, with argument values drawn from the data (real cursors, ids, numbers, slugs next to malformed
ones), and every query runs as every kind of principal of the seeded tenants against both apps: status
and JSON, key order included, must be the same. Errors are the executor's in both (compiled reads hand
anything erroneous to it), so they are compared like data.

A second test breaks one entry of the read model and shows the comparison failing.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import hypothesis
import pytest
import pytest_asyncio
from graphql import GraphQLObjectType, GraphQLSchema, build_schema, get_named_type
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from hypothesis_graphql import nodes, queries

from api.compiled.reads import ANSWERS
from api.demo import seed
from api.schema import build_schema as served_schema
from auth import Authority
from domain.bulletins import service as bulletins
from domain.bulletins.phases import BulletinKind, BulletinPhase, ServiceStatus
from domain.db import Database
from domain.incidents import major, relations
from domain.incidents import service as incidents
from domain.incidents.enums import ResponderRole, Visibility
from domain.incidents.read_model import INCIDENT
from domain.reads.catalog import ENTITIES
from domain.reads.cursors import encode_cursor
from domain.reads.model import Attribute, Cardinality, Kind
from domain.settings import Settings
from domain.tenancy.roles import Role
from tests import factories as f
from tests.conftest import TestDatabase

# Fields of Incident the read model does not cover (computed in Python, or another feature's): they send a
# query to the executor, so generating them would mostly test the executor against itself.
UNCOVERED = ("model", "review", "responseSla", "resolutionSla", "watching")


@dataclass
class World:
    principals: list[tuple[str, str, dict[str, str]]]  # (who, token, extra headers)
    incident_ids: list[str]
    numbers: list[str]
    event_ids: list[str]
    service_ids: list[str]
    tenant_ids: list[str]
    incident_cursors: list[str]
    event_cursors: list[str]


@pytest.fixture(scope="module")
def settings(test_db: TestDatabase) -> Settings:
    return f.settings_for(test_db, auto_close_interval_seconds=0, sla_scanner_max_sleep_seconds=0)


@pytest_asyncio.fixture(scope="module")
async def world(settings: Settings, db: Database, test_db: TestDatabase) -> World:
    authority = Authority(settings, db)
    try:
        demo = await seed(db, authority)
    finally:
        await authority.aclose()
    acme, globex, provider = (demo.tenants[s].id for s in ("acme", "globex", "provider"))
    await f.add_member(db, globex, "gina", Role.CUSTOMER)
    await f.add_member(db, acme, "max", Role.AGENT)
    await f.add_member(db, globex, "max", Role.CUSTOMER)  # staff of one tenant, customer of another
    await f.add_member(db, provider, "paul", Role.AGENT)
    mallory = f.actor("mallory", {acme: Role.MANAGER, globex: Role.MANAGER, provider: Role.MANAGER})
    await _enrich(db, test_db, mallory, acme, globex, provider)
    tokens = {**demo.tokens, **await f.mint_tokens(settings, db, "gina", "max", "paul")}
    principals = [
        ("carol", tokens["carol@acme"], {}),
        ("gina", tokens["gina"], {}),
        ("alice", tokens["alice"], {}),
        ("alice narrowed to globex", tokens["alice"], {"x-tenant": "globex"}),
        ("mallory", tokens["mallory"], {}),
        ("max", tokens["max"], {}),
        ("paul", tokens["paul"], {}),
        ("root", tokens["root"], {}),
    ]
    rows = f.owner_sql(test_db, "SELECT id, number, reported_at, updated_at, priority FROM incidents")
    events = f.owner_sql(test_db, "SELECT id, seq FROM incident_events ORDER BY seq")
    services = f.owner_sql(test_db, "SELECT id FROM services")
    incident_cursors = [encode_cursor([r[2], r[0]]) for r in rows[:6]]
    incident_cursors += [encode_cursor([r[4], r[0]]) for r in rows[:2]] + [
        encode_cursor([r[1], r[0]]) for r in rows[:2]
    ]
    return World(
        principals=principals,
        incident_ids=[f.encode_id("Incident", r[0]) for r in rows],
        numbers=sorted({f"INC-{r[1]:06d}" for r in rows}),
        event_ids=[f.encode_id("IncidentEvent", e[0]) for e in events[:5]],
        service_ids=[f.encode_id("Service", s[0]) for s in services],
        tenant_ids=[f.encode_id("Tenant", t) for t in (acme, globex)],
        incident_cursors=incident_cursors,
        event_cursors=[encode_cursor([e[1]]) for e in events[::7]],
    )


async def _enrich(
    db: Database,
    test_db: TestDatabase,
    mallory: Any,
    acme: uuid.UUID,
    globex: uuid.UUID,
    provider: uuid.UUID,
) -> None:
    """What the demo does not seed: a swarm, parent and child records, a provider outage fanned out to
    customers, checklists, internal and public notes on every incident, a service in outage."""
    opened = f.owner_sql(
        test_db,
        "SELECT tenant_id, id FROM incidents WHERE status IN ('NEW', 'IN_PROGRESS') ORDER BY number",
    )
    by_tenant: dict[uuid.UUID, list[uuid.UUID]] = {}
    for tenant_id, incident_id in opened:
        by_tenant.setdefault(tenant_id, []).append(incident_id)
    first_acme = by_tenant[acme][0]
    await major.declare_major_incident(
        db, mallory, incident_id=first_acme, expected_version=None, commander="mallory"
    )
    await major.add_responder(
        db, mallory, incident_id=first_acme, subject="alice", role=ResponderRole.TECHNICAL_LEAD
    )
    if len(by_tenant[acme]) > 1:
        await relations.link_incidents(db, mallory, parent_id=first_acme, child_ids=by_tenant[acme][1:2])
    outage = by_tenant[provider][0]
    await major.declare_major_incident(
        db, mallory, incident_id=outage, expected_version=None, commander="mallory"
    )
    await major.affect_tenants(
        db,
        mallory,
        incident_id=outage,
        tenant_ids=[acme, globex],
        public_title="Network trouble",
        public_description="Packet loss upstream.",
    )
    await incidents.add_comment(
        db, mallory, incident_id=outage, body="Carrier is rerouting.", visibility=Visibility.PUBLIC
    )
    unfinished = "SELECT tenant_id, id FROM incidents WHERE status NOT IN ('CLOSED', 'CANCELLED')"
    for tenant_id, incident_id in f.owner_sql(test_db, unfinished):
        await incidents.add_comment(
            db,
            mallory,
            incident_id=incident_id,
            body=f"internal note {tenant_id}",
            visibility=Visibility.INTERNAL,
        )
        f.owner_sql(
            test_db,
            "INSERT INTO incident_tasks (tenant_id, id, incident_id, position, title, done)"
            " VALUES (:t, gen_random_uuid(), :i, 1, 'Check the runbook', false),"
            " (:t, gen_random_uuid(), :i, 2, 'Tell the customer', true)",
            {"t": tenant_id, "i": incident_id},
        )
    [shop] = f.owner_sql(
        test_db, "SELECT id FROM services WHERE tenant_id = :t AND name = 'Web shop'", {"t": acme}
    )
    await bulletins.create_bulletin(
        db,
        mallory,
        bulletins.NewBulletin(
            tenant_ids=[acme],
            kind=BulletinKind.INCIDENT,
            title="Shop down",
            body="Looking into it.",
            phase=BulletinPhase.INVESTIGATING,
            affected=[bulletins.Affected(shop[0], ServiceStatus.MAJOR_OUTAGE)],
            publish=True,
        ),
    )


@pytest.fixture(scope="module")
def compiled(test_db: TestDatabase, settings: Settings, world: World) -> Iterator[f.LiveApp]:
    with f.app_server(test_db, settings) as served:
        yield served


@pytest.fixture(scope="module")
def executed(test_db: TestDatabase, settings: Settings, world: World) -> Iterator[f.LiveApp]:
    with f.app_server(test_db, settings.model_copy(update={"compiled_reads": False})) as served:
        yield served


# ---------------------------------------------------------------- the queries


def generation_schema() -> GraphQLSchema:
    """The served schema with the arguments of compiled fields typed as scalars of this test's own, so
    that their values come from the data; the query texts stay valid for the served schema."""
    sdl = served_schema().as_str()

    def page_arguments(match: re.Match[str]) -> str:
        cursor = "EventCursor" if match.group(1) == "timeline" else "IncidentCursor"
        text = match.group(0)
        for old, new in (
            ("first: Int = null", "first: First"),
            ("last: Int = null", "last: Last"),
            ("after: String = null", f"after: After{cursor}"),
            ("before: String = null", f"before: Before{cursor}"),
        ):
            text = text.replace(old, new)
        return text

    sdl = re.sub(r"  (incidents|timeline|children)\(.*\):", page_arguments, sdl)
    sdl = sdl.replace("node(id: ID!): Node", "node(id: NodeId!): Node")
    sdl = sdl.replace(
        "incidentByNumber(number: String!, tenant: ID = null)",
        "incidentByNumber(number: Number!, tenant: TenantRef)",
    )
    block = re.search(r"input IncidentFilter \{.*?\n\}", sdl, re.S)
    assert block is not None
    spec = block.group(0)
    for old, new in (
        ("tenant: ID = null", "tenant: TenantRef"),
        ("serviceId: ID = null", "serviceId: ServiceRef"),
        ("assignee: String = null", "assignee: Subject"),
        ("search: String = null", "search: Words"),
    ):
        spec = spec.replace(old, new)
    sdl = sdl.replace(block.group(0), spec)
    incident = re.search(r"type Incident implements Node \{.*?\n\}", sdl, re.S)
    assert incident is not None
    body = incident.group(0)
    for name in UNCOVERED:
        body = re.sub(rf"\n(  \"\"\".*?\"\"\"\n)?  {name}[(:].*", "", body)
    sdl = sdl.replace(incident.group(0), body)
    sdl += "\n".join(
        f"scalar {name}"
        for name in (
            *("First", "Last", "AfterIncidentCursor", "BeforeIncidentCursor", "AfterEventCursor"),
            *("BeforeEventCursor", "NodeId", "Number"),
            *("TenantRef", "ServiceRef", "Subject", "Words"),
        )
    )
    return build_schema(sdl)


def strategies(world: World) -> dict[str, st.SearchStrategy[Any]]:
    now = datetime.now(UTC)

    def strings(*choices: list[str] | tuple[str, ...]) -> st.SearchStrategy[Any]:
        return st.sampled_from([c for group in choices for c in group]).map(nodes.String)

    def sized(usual: list[int], odd: list[int], null: int) -> st.SearchStrategy[Any]:
        return st.one_of(st.sampled_from(usual * 3 + odd).map(nodes.Int), *[st.just(nodes.Null)] * null)

    def cursors(found: list[str], null: int) -> st.SearchStrategy[Any]:
        return st.one_of(strings(found, ["not a cursor"]), *[st.just(nodes.Null)] * null)

    return {
        # Mostly what a client sends: a page size, sometimes a cursor of the listing's own kind, rarely
        # "last", and now and then what the executor refuses (both, too large, a malformed cursor).
        "First": sized([1, 2, 3, 5], [0, 101], null=1),
        "Last": sized([1, 3], [0, 101], null=6),
        "AfterIncidentCursor": cursors(world.incident_cursors, null=2),
        "BeforeIncidentCursor": cursors(world.incident_cursors, null=6),
        "AfterEventCursor": cursors(world.event_cursors, null=2),
        "BeforeEventCursor": cursors(world.event_cursors, null=6),
        "NodeId": strings(
            world.incident_ids,
            world.event_ids,
            world.service_ids,
            [f.encode_id("Incident", uuid.uuid4()), "garbage"],
        ),
        "Number": strings(world.numbers, ["7", "INC-999999", "nonsense"]),
        "TenantRef": strings(["acme", "globex", "provider", "nowhere"], world.tenant_ids),
        "ServiceRef": strings(world.service_ids, ["malformed"]),
        "Subject": strings(["alice", "mallory", ""]),
        "Words": strings(["shop", "login payment", "   ", "nothing-matches-this"]),
        "DateTime": st.sampled_from(
            [(now - timedelta(days=d)).isoformat().replace("+00:00", "Z") for d in (0, 1, 30)]
        ).map(nodes.String),
    }


def ordered(body: str) -> Any:
    """The JSON with every object's keys in order (a response's order is part of the answer).

    Errors are compared as a set: their order is the order in which concurrent resolvers failed. And
    when a non-null root field fails, ``data`` is null and the executor may stop before the other fields
    fail too: then only that there are errors is compared."""
    answer = json.loads(body, object_pairs_hook=lambda pairs: ("object", pairs))
    if not (isinstance(answer, tuple) and answer[0] == "object"):
        return answer
    fields = dict(answer[1])
    if fields.get("data", "absent") is None and fields.get("errors"):
        return ("object", [("data", None), ("errors", "some")])
    return ("object", [(k, sorted(v, key=repr) if k == "errors" else v) for k, v in answer[1]])


def compare(query: str, world: World, compiled: f.LiveApp, executed: f.LiveApp) -> None:
    with httpx.Client(timeout=60) as client:
        for who, token, headers in world.principals:
            sent = {"authorization": f"Bearer {token}", **headers}
            a = client.post(f"{compiled.url}/graphql", json={"query": query}, headers=sent)
            b = client.post(f"{executed.url}/graphql", json={"query": query}, headers=sent)
            assert (a.status_code, ordered(a.text)) == (b.status_code, ordered(b.text)), (
                f"{who} asked:\n{query}\ncompiled answered {a.text[:2000]}\nexecutor answered {b.text[:2000]}"
            )


def compiled_answers() -> float:
    return ANSWERS.labels("compiled")._value.get()  # type: ignore[no-any-return]


def everything(type_name: str, depth: int = 0) -> str:
    """A selection of every field the read model maps on ``type_name``: scalars, embedded objects,
    relations (pages with every page fact, walked both ways), to a depth of two relations."""
    schema = served_schema()._schema
    type_ = schema.type_map[type_name]
    assert isinstance(type_, GraphQLObjectType)
    entity = ENTITIES[type_name]
    parts = ["__typename"]
    for name, definition in type_.fields.items():
        python = definition.extensions["strawberry-definition"].python_name
        target = get_named_type(definition.type)
        if python in entity.attributes:
            parts.append(name)
        elif python in entity.embedded:
            assert isinstance(target, GraphQLObjectType)
            parts.append(f"{name} {{ {' '.join(target.fields)} }}")
        elif python in entity.relations and depth < 2:
            relation = entity.relations[python]
            inner = everything(relation.target, depth + 1)
            if relation.cardinality is Cardinality.PAGE:
                window = "last: 3" if depth == 0 and "last" in definition.args else "first: 2"
                parts.append(
                    f"{name}({window}) {{ totalCount edges {{ cursor node {{ {inner} }} }}"
                    " pageInfo { hasNextPage hasPreviousPage startCursor endCursor } }"
                )
            else:
                parts.append(f"{name} {{ {inner} }}")
    return " ".join(parts)


def sweep_queries(world: World) -> list[str]:
    incident = everything("Incident")
    page = "totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }"
    return [
        # Within the cost budget (20,000): a page of 10 with everything.
        f"{{ incidents(first: 10) {{ {page} edges {{ cursor node {{ {incident} }} }} }} }}",
        f'{{ incidents(first: 10, after: "{world.incident_cursors[2]}") {{ edges {{ node {{ {incident} }} }} }} }}',
        f"{{ incidents(last: 4, orderBy: {{field: PRIORITY, direction: ASC}}) {{ {page} edges {{ cursor }} }} }}",
        *(f'{{ node(id: "{i}") {{ id ... on Incident {{ {incident} }} }} }}' for i in world.incident_ids[:3]),
        *(f'{{ incidentByNumber(number: "{n}") {{ {incident} }} }}' for n in world.numbers[:2]),
    ]


# ---------------------------------------------------------------- the tests


def test_every_mapped_field_reads_the_same_both_ways(
    world: World, compiled: f.LiveApp, executed: f.LiveApp
) -> None:
    before = compiled_answers()
    for query in sweep_queries(world):
        compare(query, world, compiled, executed)
    assert compiled_answers() - before >= len(sweep_queries(world)) * 4  # all but mixed sights, anonymous


def test_compiled_and_executed_answers_are_the_same(
    world: World, compiled: f.LiveApp, executed: f.LiveApp
) -> None:
    schema = generation_schema()
    before = compiled_answers()

    @hypothesis.settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        query=queries(
            schema,
            fields=["incidents", "incidentByNumber", "node"],
            custom_scalars=strategies(world),
            allow_x00=False,
        )
    )
    def same_answer(query: str) -> None:
        compare(query, world, compiled, executed)

    same_answer()
    # The comparison is only worth something if compiled reads answered many of them.
    assert compiled_answers() - before >= 60, compiled_answers() - before


def test_a_broken_read_model_entry_is_caught(
    world: World,
    test_db: TestDatabase,
    settings: Settings,
    executed: f.LiveApp,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The title read from the wrong column: plausible text, the wrong answer.
    monkeypatch.setitem(INCIDENT.attributes, "title", Attribute("title", Kind.TEXT, column="description"))
    with f.app_server(test_db, settings) as broken, pytest.raises(AssertionError, match="compiled answered"):
        for query in sweep_queries(world):
            compare(query, world, broken, executed)
