"""Malformed input at every HTTP route: deep JSON, huge numbers, NUL, invalid UTF-8, wrong types
everywhere, odd content types and paths. Whatever arrives, the answer is a client error or a success,
never a server fault, and the server keeps answering.

The routes are read from the served app, so a route added later is fuzzed the day it appears.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import Mount, Route

from api.errors import MASKED_MESSAGE
from domain.db import Database
from domain.settings import Settings
from domain.tenancy.roles import Role
from tests import factories as f

FUZZ = settings(
    max_examples=100,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def app_settings(test_db: Any) -> Settings:
    return f.settings_for(
        test_db,
        rate_limit_per_minute=1_000_000,
        intake_rate_limit_per_minute=1_000_000,
        token_rate_limit_per_minute=1_000_000,
        token_address_rate_limit_per_minute=1_000_000,
    )


@pytest_asyncio.fixture(scope="module")
async def token(db: Database, app_settings: Settings) -> str:
    acme = await f.create_tenant(db, "acme", public_status_page=True)
    await f.add_member(db, acme.id, "alice", Role.AGENT)
    return await f.mint_token(app_settings, db, "alice")


@pytest.fixture(scope="module")
def live(test_db: Any, app_settings: Settings, token: str) -> Iterator[f.LiveApp]:
    with f.app_server(test_db, app_settings) as served:
        yield served


def routes(live: f.LiveApp) -> list[tuple[str, str]]:
    """(method, path) of every route of the served app; path parameters filled with a plausible value."""
    found = []
    for route in live.app.routes:
        if isinstance(route, Mount):
            found.append(("GET", f"{route.path}/status.css"))
        elif isinstance(route, Route):
            path = route.path.replace("{slug}", "acme")
            for method in sorted(route.methods or {"GET"}):
                if method != "HEAD":
                    found.append((method, path))
    return found


def json_values() -> st.SearchStrategy[Any]:
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(10**30), max_value=10**30)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=40)
        | st.sampled_from(["\x00", "a\x00b", "\ud7ff", "INC-1", "acme", "{ viewer { subject } }"])
    )
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
        ),
        max_leaves=12,
    )


KEYS = [
    "query",
    "variables",
    "operationName",
    "extensions",
    "routing_key",
    "event_action",
    "dedup_key",
    "payload",
    "grant_type",
    "client_id",
    "client_secret",
    "scope",
]


def bodies() -> st.SearchStrategy[bytes]:
    shaped = st.dictionaries(st.sampled_from(KEYS), json_values(), max_size=5).map(
        lambda d: json.dumps(d).encode()
    )
    hostile = st.sampled_from(
        [
            b"[" * 200_000,
            b'{"a":' * 50_000,
            b'{"query": "{ incidents(first: ' + b"9" * 5000 + b') { totalCount } }"}',
            b'{"variables": {"n": ' + b"9" * 5000 + b"}}",
            b'{"query": "{ viewer { subject } }", "variables": "\\u0000"}',
            b'{"routing_key": "\\u0000", "event_action": "trigger", "payload": {"summary": "\\u0000"}}',
            b"\xff\xfe\x00\x00",
            b'{"query": "\xc3\x28"}',
            b"grant_type=client_credentials&client_id=%00&client_secret=%ff",
            b"null",
            b"1e999999",
            b"-",
            b"",
        ]
    )
    return shaped | hostile | st.binary(max_size=300)


CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/x-www-form-urlencoded",
        "text/plain",
        "multipart/form-data",
        "application/json; charset=latin-1",
        "application/graphql",
        "",
    ]
)


def test_malformed_bodies_at_every_route(live: f.LiveApp, token: str) -> None:
    targets = routes(live)
    assert (
        ("POST", "/graphql") in targets
        and ("POST", "/v2/enqueue") in targets
        and ("POST", "/oauth/token") in targets
    )

    with httpx.Client(base_url=live.url, timeout=60) as http:

        @FUZZ
        @given(st.sampled_from(targets), bodies(), CONTENT_TYPES, st.booleans())
        def check(target: tuple[str, str], body: bytes, content_type: str, authenticated: bool) -> None:
            method, path = target
            headers = {"content-type": content_type} if content_type else {}
            if authenticated:
                headers["authorization"] = f"Bearer {token}"
            if method == "GET":
                response = http.get(path, params={"query": body.decode("latin-1")[:2000]}, headers=headers)
            else:
                response = http.request(method, path, content=body, headers=headers)
            where = f"{method} {path} with {content_type!r} {body[:120]!r}"
            assert response.status_code < 500, f"{where} -> {response.status_code} {response.text[:300]}"
            assert MASKED_MESSAGE not in response.text, f"{where} -> {response.text[:300]}"

        check()
        assert http.get("/healthz").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/status/acme%00",
        "/status/%ff%fe",
        "/status/" + "a" * 3000,
        "/graphql?query=%00",
        "/graphql?query=%7B%7B%7B",
        "/graphql?query={viewer{subject}}&variables=%5B%5B%5B",
        "/.well-known/jwks.json?x=%00",
        "/static/..%2f..%2fetc/passwd",
    ],
)
def test_odd_paths_and_query_strings(live: f.LiveApp, token: str, path: str) -> None:
    response = httpx.get(f"{live.url}{path}", headers={"authorization": f"Bearer {token}"}, timeout=60)
    assert response.status_code < 500, response.text[:300]
    assert "root:" not in response.text


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer \x7f", "Basic YTpi", "Bearer " + "a" * 20_000, "Bearer a.b.c", "Bearer e30.e30.e30"],
)
def test_malformed_authorization_is_401(live: f.LiveApp, header: str) -> None:
    try:
        response = httpx.post(
            f"{live.url}/graphql",
            json={"query": "{ viewer { subject } }"},
            headers={"authorization": header},
            timeout=60,
        )
    except httpx.LocalProtocolError:
        return  # the client itself refuses to send it
    assert response.status_code in (400, 401, 431), response.text[:300]
