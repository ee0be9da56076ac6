"""Another tenant's rows answer exactly like absent ones, and customers never see internal work.

Every mutation of the served schema is covered without being listed here: for each ID argument of each
mutation's input, the test sends another tenant's real ID and an ID that exists nowhere, and the two
answers must be the same bytes. Mutations added later are checked the day they appear.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    Undefined,
)

from api.schema import build_schema
from domain.db import Database
from domain.incidents import service as incident_service
from domain.incidents.enums import Visibility
from domain.settings import Settings
from domain.tenancy.roles import Role
from tests import factories as f


@dataclass
class World:
    acme: uuid.UUID
    globex: uuid.UUID
    tokens: dict[str, str]
    # acme's incident with a mixed timeline: CREATED, an internal note, a public comment, a classification
    acme_incident: str
    public_events: list[str]
    internal_events: list[str]
    # globex's incident, with its own number and an event
    globex_incident: str
    globex_number: str
    globex_event: str
    acme_service: str
    globex_service: str


@pytest_asyncio.fixture(scope="module")
async def world(db: Database, settings: Settings, test_db: Any) -> World:
    acme = await f.create_tenant(db, "acme")
    globex = await f.create_tenant(db, "globex")
    await f.add_member(db, acme.id, "mona", Role.MANAGER)
    await f.add_member(db, acme.id, "alice", Role.AGENT)
    await f.add_member(db, acme.id, "carol", Role.CUSTOMER)
    await f.add_member(db, globex.id, "gina", Role.MANAGER)
    await f.add_member(db, globex.id, "gus", Role.CUSTOMER)
    alice = f.actor("alice", {acme.id: Role.AGENT})
    carol = f.actor("carol", {acme.id: Role.CUSTOMER})
    gina = f.actor("gina", {globex.id: Role.MANAGER})
    gus = f.actor("gus", {globex.id: Role.CUSTOMER})
    acme_service = await f.create_service(db, f.actor("mona", {acme.id: Role.MANAGER}), acme.id, "Email")
    globex_service = await f.create_service(db, gina, globex.id, "Portal")

    mine = await f.report(db, carol, acme.id, "Mail is down", "since 9:00")
    note = await incident_service.add_comment(
        db, alice, incident_id=mine.id, body="relay 3 is suspect", visibility=Visibility.INTERNAL
    )
    reply = await incident_service.add_comment(
        db, alice, incident_id=mine.id, body="we are on it", visibility=Visibility.PUBLIC
    )
    await incident_service.classify_incident(
        db,
        alice,
        incident_id=mine.id,
        expected_version=None,
        change=incident_service.Classification(category="mail"),
    )
    theirs = await f.report(db, gus, globex.id, "Portal slow", "globex only")
    for i in range(2):  # globex's incident is not number 1, unlike acme's
        await f.report(db, gus, globex.id, f"Other {i}", "")
    events = f.owner_sql(
        test_db,
        "SELECT id, visibility, incident_id FROM incident_events WHERE incident_id IN (:a, :g) ORDER BY seq",
        {"a": mine.id, "g": theirs.id},
    )
    public = [f.encode_id("IncidentEvent", e) for e, vis, inc in events if inc == mine.id and vis == "PUBLIC"]
    internal = [
        f.encode_id("IncidentEvent", e) for e, vis, inc in events if inc == mine.id and vis == "INTERNAL"
    ]
    assert len(public) == 2 and len(internal) == 2, events  # CREATED + reply; note + classification
    assert note.visibility is Visibility.INTERNAL and reply.visibility is Visibility.PUBLIC
    globex_event = next(e for e, _, inc in events if inc == theirs.id)
    return World(
        acme=acme.id,
        globex=globex.id,
        tokens=await f.mint_tokens(settings, db, "mona", "alice", "carol", "gus", "gina"),
        acme_incident=f.encode_id("Incident", mine.id),
        public_events=public,
        internal_events=internal,
        globex_incident=f.encode_id("Incident", theirs.id),
        globex_number=theirs.display_number,
        globex_event=f.encode_id("IncidentEvent", globex_event),
        acme_service=f.encode_id("Service", acme_service.id),
        globex_service=f.encode_id("Service", globex_service.id),
    )


def _bytes(live: f.LiveApp, token: str, query: str, variables: dict[str, Any]) -> bytes:
    response = f.post_graphql(live.url, token, query, variables)
    assert response.status_code == 200, response.text
    return response.content


# ---------------------------------------------------------------- reads

NODE = "query($id: ID!) { node(id: $id) { __typename id } }"


@pytest.mark.parametrize("who", ["mona", "alice", "carol"])
def test_node_of_another_tenant_answers_like_a_missing_one(live: f.LiveApp, world: World, who: str) -> None:
    token = world.tokens[who]
    pairs = [
        (world.globex_incident, f.encode_id("Incident", uuid.uuid4())),
        (world.globex_event, f.encode_id("IncidentEvent", uuid.uuid4())),
        (world.globex_service, f.encode_id("Service", uuid.uuid4())),
        (f.encode_id("Tenant", world.globex), f.encode_id("Tenant", uuid.uuid4())),
    ]
    for foreign, absent in pairs:
        answer = _bytes(live, token, NODE, {"id": foreign})
        assert answer == _bytes(live, token, NODE, {"id": absent})
        # Byte for byte like the absent one; the bytes themselves are the compiled or the executed form.
        assert json.loads(answer) == {"data": {"node": None}}


def test_nodes_of_another_tenant_answer_like_missing_ones(live: f.LiveApp, world: World) -> None:
    query = "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }"
    foreign = [
        world.globex_incident,
        world.globex_event,
        world.globex_service,
        f.encode_id("Tenant", world.globex),
    ]
    absent = [f.encode_id(t, uuid.uuid4()) for t in ("Incident", "IncidentEvent", "Service", "Tenant")]
    token = world.tokens["mona"]
    assert _bytes(live, token, query, {"ids": foreign}) == _bytes(live, token, query, {"ids": absent})
    mixed = live.gql_ok(token, query, {"ids": [world.acme_incident, world.globex_incident]})["nodes"]
    assert mixed == [{"__typename": "Incident", "id": world.acme_incident}, None]


BY_NUMBER = "query($t: ID, $n: String!) { incidentByNumber(tenant: $t, number: $n) { id } }"


def test_incident_by_number_in_another_tenant_answers_like_a_missing_one(
    live: f.LiveApp, world: World
) -> None:
    token = world.tokens["mona"]
    existing = _bytes(live, token, BY_NUMBER, {"t": "globex", "n": world.globex_number})
    assert existing == _bytes(live, token, BY_NUMBER, {"t": "globex", "n": "INC-999999"})
    assert existing == _bytes(
        live, token, BY_NUMBER, {"t": f.encode_id("Tenant", world.globex), "n": world.globex_number}
    )
    assert existing == _bytes(live, token, BY_NUMBER, {"t": "no-such-tenant", "n": world.globex_number})
    assert existing == _bytes(live, token, BY_NUMBER, {"t": f.encode_id("Tenant", uuid.uuid4()), "n": "1"})


def test_customers_see_only_their_own_tenant(live: f.LiveApp, world: World) -> None:
    token = world.tokens["carol"]
    data = live.gql_ok(
        token,
        """{
          viewer { memberships { tenant { slug } } }
          tenants { totalCount edges { node { slug } } }
          incidents(first: 100) { totalCount edges { node { id tenant { slug } } } }
          globex: services(tenant: "globex") { totalCount }
          services { edges { node { id } } }
        }""",
    )
    assert data["viewer"]["memberships"] == [{"tenant": {"slug": "acme"}}]
    assert data["tenants"] == {"totalCount": 1, "edges": [{"node": {"slug": "acme"}}]}
    assert data["incidents"]["totalCount"] == 1
    assert {e["node"]["tenant"]["slug"] for e in data["incidents"]["edges"]} == {"acme"}
    assert data["globex"]["totalCount"] == 0
    assert data["services"]["edges"] == [{"node": {"id": world.acme_service}}]


# ---------------------------------------------------------------- internal work stays internal

TIMELINE = """
query($id: ID!, $first: Int, $after: String) {
  node(id: $id) {
    ... on Incident {
      timeline(first: $first, after: $after) {
        totalCount pageInfo { hasNextPage endCursor } edges { node { id kind visibility message } }
      }
    }
  }
}
"""


def test_a_customer_never_sees_internal_events(live: f.LiveApp, world: World) -> None:
    carol, alice = world.tokens["carol"], world.tokens["alice"]
    staff = live.gql_ok(alice, TIMELINE, {"id": world.acme_incident, "first": 50})["node"]["timeline"]
    assert staff["totalCount"] == 4
    customer = live.gql_ok(carol, TIMELINE, {"id": world.acme_incident, "first": 50})["node"]["timeline"]
    assert customer["totalCount"] == 2
    assert [e["node"]["id"] for e in customer["edges"]] == world.public_events
    assert {e["node"]["visibility"] for e in customer["edges"]} == {"PUBLIC"}
    assert "relay 3" not in str(customer)
    # Paging one by one never reaches an internal event either, and the count stays the same.
    seen, after = [], None
    for _ in range(10):
        page = live.gql_ok(carol, TIMELINE, {"id": world.acme_incident, "first": 1, "after": after})["node"][
            "timeline"
        ]
        assert page["totalCount"] == 2
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == world.public_events


def test_an_internal_event_by_id_answers_like_a_missing_one_for_a_customer(
    live: f.LiveApp, world: World
) -> None:
    carol = world.tokens["carol"]
    absent = _bytes(live, carol, NODE, {"id": f.encode_id("IncidentEvent", uuid.uuid4())})
    for event in world.internal_events:
        assert _bytes(live, carol, NODE, {"id": event}) == absent
        assert live.gql_ok(world.tokens["alice"], NODE, {"id": event})["node"] == {
            "__typename": "IncidentEvent",
            "id": event,
        }
    query = "query($ids: [ID!]!) { nodes(ids: $ids) { id } }"
    got = live.gql_ok(carol, query, {"ids": [*world.internal_events, *world.public_events]})["nodes"]
    assert got == [None, None, *({"id": e} for e in world.public_events)]


def test_listing_timelines_hide_internal_events_from_customers(live: f.LiveApp, world: World) -> None:
    query = "{ incidents(first: 10) { edges { node { timeline(first: 10) { totalCount edges { node { visibility } } } } } } }"
    edges = live.gql_ok(world.tokens["carol"], query)["incidents"]["edges"]
    assert [e["node"]["timeline"]["totalCount"] for e in edges] == [2]
    assert {v["node"]["visibility"] for e in edges for v in e["node"]["timeline"]["edges"]} == {"PUBLIC"}


# ---------------------------------------------------------------- every mutation


SCHEMA = build_schema()._schema
SCALARS: dict[str, Any] = {
    "String": "x",
    "Int": 1,
    "Float": 1.0,
    "Boolean": False,
    "DateTime": "2026-01-01T00:00:00Z",
    "JSON": {},
}


# Enum values that make an input plausible where the first value would be refused for its own sake.
PREFERRED_ENUM_VALUES = {"ResponderRole": "TECHNICAL_LEAD"}


def _id_kind(field: str) -> str:
    if field in ("tenant", "tenants"):
        return "Tenant"
    if "service" in field.lower():
        return "Service"
    if field == "modelId":
        return "IncidentModel"
    if field == "taskId":
        return "IncidentTask"
    return "Incident"


def _unwrap(type_: GraphQLInputType) -> tuple[GraphQLInputType, bool]:
    """The named type inside NonNull/List wrappers, and whether a list was among them."""
    listed = False
    while isinstance(type_, (GraphQLNonNull, GraphQLList)):
        listed = listed or isinstance(type_, GraphQLList)
        type_ = type_.of_type
    return type_, listed


def _sample(type_: GraphQLInputType, field: str, own: dict[str, str], *, top: bool = False) -> Any:
    """A plausible value: required fields everywhere, and at the top level optional strings too (so that
    e.g. an assignment names an assignee and the refusal, if any, is about the ID under test)."""
    named, listed = _unwrap(type_)
    if isinstance(named, GraphQLInputObjectType):
        value: Any = {}
        for name, spec in named.fields.items():
            inner, inner_listed = _unwrap(spec.type)
            optional_text = top and not inner_listed and getattr(inner, "name", "") == "String"
            if (isinstance(spec.type, GraphQLNonNull) and spec.default_value is Undefined) or optional_text:
                value[name] = _sample(spec.type, name, own)
    elif isinstance(named, GraphQLEnumType):
        value = PREFERRED_ENUM_VALUES.get(named.name, next(iter(named.values)))
    elif isinstance(named, GraphQLScalarType) and named.name == "ID":
        value = own[_id_kind(field)]
    elif isinstance(named, GraphQLScalarType):
        value = SCALARS[named.name]
    else:  # pragma: no cover
        pytest.fail(f"cannot synthesise {named}")
    return [value] if listed else value


@dataclass(frozen=True)
class Probe:
    mutation: str
    input_type: str
    field: str
    kind: str
    listed: bool


def _probes() -> Iterator[Probe]:
    assert SCHEMA.mutation_type is not None
    for name, spec in SCHEMA.mutation_type.fields.items():
        arg = spec.args.get("input")
        if arg is None:
            continue
        input_type, _ = _unwrap(arg.type)
        assert isinstance(input_type, GraphQLInputObjectType)
        for field, field_spec in input_type.fields.items():
            named, listed = _unwrap(field_spec.type)
            if isinstance(named, GraphQLScalarType) and named.name == "ID":
                yield Probe(name, input_type.name, field, _id_kind(field), listed)


PROBES = list(_probes())


def test_the_probes_cover_the_incident_mutations() -> None:
    covered = {p.mutation for p in PROBES}
    assert {
        "classifyIncident",
        "assignIncident",
        "acknowledgeIncident",
        "addComment",
        "reportIncident",
    } <= covered


@dataclass
class Registry:
    """Real rows of both tenants for the ID kinds that need more than a report to exist."""

    acme: dict[str, str]
    globex: dict[str, str]


MODEL = """
mutation($input: IncidentModelInput!) { createIncidentModel(input: $input) { model { id } userErrors { message } } }
"""
APPLY = """
mutation($input: ApplyModelInput!) {
  applyIncidentModel(input: $input) { incident { tasks { id } } userErrors { message } }
}
"""


def _model_and_task(live: f.LiveApp, token: str, tenant: str, incident: str) -> dict[str, str]:
    mutations = SCHEMA.mutation_type.fields if SCHEMA.mutation_type else {}
    if "createIncidentModel" not in mutations or "applyIncidentModel" not in mutations:
        return {}
    created = live.gql_ok(token, MODEL, {"input": {"tenant": tenant, "name": "Playbook", "tasks": ["check"]}})
    model = created["createIncidentModel"]["model"]["id"]
    applied = live.gql_ok(token, APPLY, {"input": {"id": incident, "modelId": model}})["applyIncidentModel"]
    return {"IncidentModel": model, "IncidentTask": applied["incident"]["tasks"][0]["id"]}


@pytest.fixture(scope="module")
def registry(live: f.LiveApp, world: World) -> Registry:
    mine = live.gql_ok(
        world.tokens["mona"],
        'mutation { reportIncident(input: {title: "model target", description: "p"}) { incident { id } } }',
    )["reportIncident"]["incident"]["id"]
    return Registry(
        acme=_model_and_task(live, world.tokens["mona"], "acme", mine),
        globex={
            "Incident": world.globex_incident,
            "Service": world.globex_service,
            "Tenant": f.encode_id("Tenant", world.globex),
            **_model_and_task(live, world.tokens["gina"], "globex", world.globex_incident),
        },
    )


@pytest.fixture
def own(live: f.LiveApp, world: World, registry: Registry) -> dict[str, str]:
    """A fresh acme incident per probe, so that the other ID fields of an input name something real."""
    created = live.gql_ok(
        world.tokens["mona"],
        'mutation { reportIncident(input: {title: "probe", description: "p"}) { incident { id } } }',
    )["reportIncident"]["incident"]
    absent = {kind: f.encode_id(kind, uuid.uuid4()) for kind in ("IncidentModel", "IncidentTask")}
    return {
        **absent,
        **registry.acme,
        "Incident": created["id"],
        "Service": world.acme_service,
        "Tenant": "acme",
    }


@pytest.fixture(scope="module")
def globex_before(test_db: Any, world: World, registry: Registry) -> str:
    return _globex_state(test_db, world)


def _globex_state(test_db: Any, world: World) -> str:
    rows = f.owner_sql(
        test_db,
        "SELECT json_agg(x ORDER BY x::text)::text FROM (SELECT to_jsonb(i) AS x FROM incidents i WHERE tenant_id = :g"
        " UNION ALL SELECT to_jsonb(e) FROM incident_events e WHERE tenant_id = :g"
        " UNION ALL SELECT to_jsonb(s) FROM services s WHERE tenant_id = :g"
        " UNION ALL SELECT to_jsonb(k) FROM incident_tasks k WHERE tenant_id = :g) t",
        {"g": world.globex},
    )
    return str(rows[0][0])


@pytest.mark.parametrize("probe", PROBES, ids=[f"{p.mutation}.{p.field}" for p in PROBES])
def test_every_mutation_answers_another_tenants_id_like_a_missing_one(
    live: f.LiveApp, world: World, registry: Registry, own: dict[str, str], globex_before: str, probe: Probe
) -> None:
    assert SCHEMA.mutation_type is not None
    spec = SCHEMA.mutation_type.fields[probe.mutation]
    payload_type, _ = _unwrap(spec.type)  # type: ignore[arg-type]
    selection = "userErrors { field message code }" if "userErrors" in payload_type.fields else "__typename"  # type: ignore[union-attr]
    query = f"mutation($input: {probe.input_type}!) {{ {probe.mutation}(input: $input) {{ {selection} }} }}"
    base = _sample(spec.args["input"].type, "input", own, top=True)
    foreign = registry.globex.get(probe.kind) or f.encode_id(probe.kind, uuid.uuid4())
    absent = f.encode_id(probe.kind, uuid.uuid4())
    answers = []
    for value in (foreign, absent):
        variables = {"input": {**base, probe.field: [value] if probe.listed else value}}
        response = f.post_graphql(live.url, world.tokens["mona"], query, variables)
        assert response.status_code == 200, response.text
        body = response.json()
        assert not body.get("errors"), (probe, body)
        if selection.startswith("userErrors"):
            assert body["data"][probe.mutation]["userErrors"], (probe, "accepted", body)
        answers.append(response.content)
    assert answers[0] == answers[1], (probe, answers)


def test_probing_changed_nothing_in_the_other_tenant(test_db: Any, world: World, globex_before: str) -> None:
    # Runs after the probes (file order): not a single globex row was written by them.
    assert _globex_state(test_db, world) == globex_before
