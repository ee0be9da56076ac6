"""The query cost budget and the per-principal rate limit, through real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import pytest_asyncio

from api.app import create_app
from auth import Authority
from domain.db import Database
from domain.settings import Settings
from domain.tenancy import service as tenancy
from domain.tenancy.roles import Role
from tests.conftest import TestDatabase
from tests.server import serve

SETTINGS = Settings(max_query_cost=500, rate_limit_per_minute=8)


@pytest_asyncio.fixture(scope="module")
async def tokens(db: Database) -> AsyncIterator[dict[str, str]]:
    tenant = await tenancy.create_tenant(db, None, slug="costly", name="Costly", timezone="UTC")
    authority = Authority(SETTINGS, db)
    minted = {}
    for subject in ("ann", "ben"):
        await tenancy.add_member(
            db, None, tenant_id=tenant.id, issuer=SETTINGS.public_url, subject=subject, role=Role.AGENT
        )
        minted[subject] = await authority.mint(subject)
    await authority.aclose()
    yield minted


@pytest.fixture(scope="module")
def base_url(test_db: TestDatabase, tokens: dict[str, str]) -> Iterator[str]:
    with serve(create_app(SETTINGS, database_url=test_db.app_url)) as url:
        yield url


def post(base_url: str, token: str, query: str, variables: dict[str, object] | None = None) -> httpx.Response:
    return httpx.post(
        f"{base_url}/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"authorization": f"Bearer {token}"},
    )


NESTED = "query($n: Int) { incidents(first: $n) { edges { node { timeline(first: $n) { edges { node { kind } } } } } } }"


def test_a_cheap_query_runs_and_an_expensive_one_is_refused_before_execution(
    base_url: str, tokens: dict[str, str]
) -> None:
    cheap = post(base_url, tokens["ann"], NESTED, {"n": 5}).json()
    assert "errors" not in cheap
    costly = post(base_url, tokens["ann"], NESTED, {"n": 100}).json()
    assert costly["data"] is None
    [error] = costly["errors"]
    assert error["extensions"]["code"] == "LIMIT_EXCEEDED"
    assert error["extensions"]["cost"] > error["extensions"]["budget"] == 500


def test_each_principal_has_its_own_rate_limit(base_url: str, tokens: dict[str, str]) -> None:
    answers = [post(base_url, tokens["ben"], "{ viewer { subject } }").status_code for _ in range(12)]
    refused = [code for code in answers if code == 429]
    assert answers[0] == 200 and refused, answers
    limited = post(base_url, tokens["ben"], "{ viewer { subject } }")
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    # Another principal is unaffected by ben's burst.
    assert post(base_url, tokens["ann"], "{ viewer { subject } }").status_code == 200
