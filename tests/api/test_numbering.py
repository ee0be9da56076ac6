"""Incident numbers are per tenant, gapless and unique, also when reports arrive all at once."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest_asyncio

from domain.db import Database
from domain.settings import Settings
from domain.tenancy.roles import Role
from tests import factories as f

REPORT = """
mutation($input: ReportIncidentInput!) {
  reportIncident(input: $input) { incident { number tenant { slug } } userErrors { code field } }
}
"""


@dataclass
class World:
    tokens: dict[str, str]


@pytest_asyncio.fixture(scope="module")
async def world(db: Database, settings: Settings) -> World:
    acme = await f.create_tenant(db, "acme")
    globex = await f.create_tenant(db, "globex")
    await f.add_member(db, acme.id, "alice", Role.AGENT)
    await f.add_member(db, globex.id, "alice", Role.AGENT)
    await f.add_member(db, acme.id, "carol", Role.CUSTOMER)
    return World(tokens=await f.mint_tokens(settings, db, "alice", "carol"))


async def _report(client: httpx.AsyncClient, token: str, **input: Any) -> dict[str, Any]:
    response = await client.post(
        "/graphql",
        json={"query": REPORT, "variables": {"input": {"title": "t", "description": "d", **input}}},
        headers={"authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body.get("errors"), body["errors"]
    payload: dict[str, Any] = body["data"]["reportIncident"]
    return payload


def _number(payload: dict[str, Any]) -> int:
    assert payload["userErrors"] == [], payload["userErrors"]
    number: str = payload["incident"]["number"]
    assert number.startswith("INC-")
    return int(number.removeprefix("INC-"))


async def test_concurrent_reports_are_numbered_without_gap_or_duplicate(
    live: f.LiveApp, world: World
) -> None:
    token = world.tokens["alice"]
    async with httpx.AsyncClient(base_url=live.url, timeout=60) as client:
        # Thirty reports into acme, and ten into globex interleaved with them, all in flight at once.
        calls = [_report(client, token, tenant="acme", title=f"acme {i}") for i in range(30)]
        calls += [_report(client, token, tenant="globex", title=f"globex {i}") for i in range(10)]
        payloads = await asyncio.gather(*calls)
    acme = sorted(_number(p) for p in payloads[:30])
    globex = sorted(_number(p) for p in payloads[30:])
    assert acme == list(range(1, 31))
    assert globex == list(range(1, 11))
    assert {p["incident"]["tenant"]["slug"] for p in payloads[:30]} == {"acme"}


async def test_a_refused_report_consumes_no_number(live: f.LiveApp, world: World) -> None:
    async with httpx.AsyncClient(base_url=live.url, timeout=60) as client:
        before = _number(await _report(client, world.tokens["carol"]))
        refusals = [
            await _report(client, world.tokens["carol"], title="   "),
            await _report(client, world.tokens["carol"], title="x" * 1000),
            await _report(client, world.tokens["carol"], serviceId=f.encode_id("Service", uuid.uuid4())),
            await _report(client, world.tokens["carol"], tenant="globex"),
            await _report(client, world.tokens["carol"], detectedAt="2999-01-01T00:00:00Z"),
        ]
        for refusal in refusals:
            assert refusal["incident"] is None
            assert refusal["userErrors"], refusal
        after = _number(await _report(client, world.tokens["carol"]))
    assert after == before + 1
