"""Work that crosses tenants, racing: a provider fanning incidents out to customers while its agents
comment on another fanned-out incident. Each transaction locks several tenants' event counters, in
whatever order its work needs them; PostgreSQL aborts the occasional deadlock and the use case runs again,
so every call is answered and nothing is lost."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest_asyncio

from domain.db import Database
from domain.settings import Settings
from tests import factories as f
from tests.incidents.practice import World, call, ok, report, seed_world, timeline


@pytest_asyncio.fixture(scope="module")
async def world(db: Database, settings: Settings) -> World:
    return await seed_world(db, settings)


TEXT = {"publicTitle": "Hosting degraded", "publicDescription": "Some of our hosting is degraded."}


def test_fan_outs_and_flowing_comments_racing_all_succeed(live: f.LiveApp, world: World) -> None:
    nina = world.tokens["nina"]
    provider = world.tenant("provider")
    busy = report(live, nina, "Storage array degraded", tenant=provider)
    ok(live, nina, "affectTenants", id=busy["id"], tenants=["acme", "globex"], **TEXT)
    fresh = [report(live, nina, f"Hypervisor {n} down", tenant=provider) for n in range(12)]

    def fan_out(incident: dict[str, Any]) -> dict[str, Any]:
        return call(live, nina, "affectTenants", id=incident["id"], tenants=["globex", "acme"], **TEXT)

    def comment(n: int) -> dict[str, Any]:
        return call(live, nina, "addComment", id=busy["id"], body=f"update {n}", visibility="PUBLIC")

    with ThreadPoolExecutor(max_workers=8) as pool:
        fanned = [pool.submit(fan_out, incident) for incident in fresh]
        commented = [pool.submit(comment, n) for n in range(12)]
        answers = [future.result() for future in fanned + commented]
    assert all(answer["userErrors"] == [] for answer in answers), answers
    # Every update reached the busy incident's two children, once each.
    children = live.gql_ok(
        nina,
        "query($id: ID!) { node(id: $id) { ... on Incident { children(first: 10) { edges { node { id } } } } } }",
        {"id": busy["id"]},
    )["node"]["children"]["edges"]
    assert len(children) == 2
    for child in children:
        bodies = [e["message"] for e in timeline(live, nina, child["node"]["id"]) if e["kind"] == "COMMENTED"]
        assert sorted(bodies) == sorted(f"update {n}" for n in range(12))


def test_a_fanned_out_incident_cannot_become_a_child_even_for_an_agent_blind_to_its_children(
    live: f.LiveApp, world: World
) -> None:
    # pete works at the provider only: the customer-tenant children of a fanned-out incident are not his
    # to see, yet linking it under another parent would make them grandchildren.
    nina, pete = world.tokens["nina"], world.tokens["pete"]
    provider = world.tenant("provider")
    fanned = report(live, nina, "Core switch down", tenant=provider)
    ok(live, nina, "affectTenants", id=fanned["id"], tenants=["acme"], **TEXT)
    parent = report(live, pete, "Datacentre power event", tenant=provider)
    answer = call(live, pete, "linkIncidents", parentId=parent["id"], childIds=[fanned["id"]])
    [error] = answer["userErrors"]
    assert error["code"] == "INVALID" and error["field"] == ["input", "childIds", "0"]
