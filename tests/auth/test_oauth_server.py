"""The token endpoint and the well-known documents, through real HTTP against a real uvicorn."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import httpx
import pytest
import pytest_asyncio
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import Engine

from api.app import create_app
from auth import Authority
from domain.db import Database
from domain.settings import Settings
from domain.tenancy.roles import Role
from tests.auth.seed import add_tenant, client_row, set_client_active
from tests.server import listening_socket, serve

if TYPE_CHECKING:
    from tests.conftest import TestDatabase

# The issuer's URL names the port it is served on, so the socket is bound before the app is built.
SOCKET = listening_socket()
PUBLIC_URL = f"http://127.0.0.1:{SOCKET.getsockname()[1]}"
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings(public_url=PUBLIC_URL, token_ttl_seconds=600)


@pytest.fixture(scope="module")
def base_url(settings: Settings, test_db: TestDatabase) -> Iterator[str]:
    # The real app factory; it builds its own pool, which lives on uvicorn's event loop, not the test's.
    with serve(create_app(settings, database_url=test_db.app_url), sock=SOCKET) as url:
        yield url


@pytest_asyncio.fixture(scope="module")
async def authority(settings: Settings, db: Database) -> AsyncIterator[Authority]:
    authority = Authority(settings, db)
    yield authority
    await authority.aclose()


@pytest_asyncio.fixture(scope="module")
async def http(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url) as client:
        yield client


@pytest.fixture(scope="module")
def tenant(owner: Engine) -> uuid.UUID:
    return add_tenant(owner, "umbrella")


@pytest_asyncio.fixture(scope="module")
async def client(authority: Authority, tenant: uuid.UUID) -> tuple[str, str]:
    return await authority.create_client(tenant, "Nagios", ["incidents:read", "alerts:write"])


async def test_create_client_stores_a_hash_and_a_membership(
    authority: Authority, owner: Engine, tenant: uuid.UUID, client: tuple[str, str]
) -> None:
    client_id, secret = client
    row = client_row(owner, tenant, client_id)
    assert row.secret_hash.startswith("scrypt$")
    assert secret not in row.secret_hash
    assert row.scopes == "alerts:write incidents:read"
    with pytest.raises(ValueError, match="unknown scopes"):
        await authority.create_client(tenant, "bad", ["incidents:read", "root"])
    with pytest.raises(ValueError, match="at least one scope"):
        await authority.create_client(tenant, "bad", [])
    with pytest.raises(ValueError, match="tenant"):
        await authority.create_client(uuid.uuid4(), "orphan", ["incidents:read"])


async def test_client_secret_basic(
    http: httpx.AsyncClient, authority: Authority, client: tuple[str, str], tenant: uuid.UUID
) -> None:
    response = await http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=client)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 600
    assert body["scope"] == "alerts:write incidents:read"
    assert "refresh_token" not in body

    verified = await authority.verify(body["access_token"])
    assert verified.client_id == client[0]
    assert verified.subject == client[0]
    assert verified.issuer == PUBLIC_URL
    principal = await authority.principal(verified)
    assert principal.is_client
    assert dict(principal.memberships) == {tenant: Role.AGENT}
    assert principal.rights_in(tenant) == {"incidents:read", "alerts:write"}


async def test_client_secret_post(
    http: httpx.AsyncClient, authority: Authority, client: tuple[str, str]
) -> None:
    client_id, secret = client
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    response = await http.post("/oauth/token", data=form)
    assert response.status_code == 200, response.text
    assert (await authority.verify(response.json()["access_token"])).client_id == client_id


async def test_wrong_secret_is_invalid_client(http: httpx.AsyncClient, client: tuple[str, str]) -> None:
    client_id, _ = client
    basic = await http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, "nope")
    )
    assert basic.status_code == 401
    assert basic.json()["error"] == "invalid_client"
    assert basic.headers["www-authenticate"].startswith("Basic")
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": "nope"}
    posted = await http.post("/oauth/token", data=form)
    assert posted.status_code == 401
    assert posted.json()["error"] == "invalid_client"


async def test_unknown_client_answers_like_a_wrong_secret(
    http: httpx.AsyncClient, client: tuple[str, str]
) -> None:
    known = await http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client[0], "nope")
    )
    unknown = await http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=("idc_nobody", "nope")
    )
    assert unknown.status_code == 401
    assert unknown.json() == known.json()
    form = {"grant_type": "client_credentials", "client_id": "idc_nobody", "client_secret": "x"}
    posted = await http.post("/oauth/token", data=form)
    assert posted.status_code == 401
    assert posted.json()["error"] == "invalid_client"
    anonymous = await http.post("/oauth/token", data={"grant_type": "client_credentials"})
    assert anonymous.status_code == 401


async def test_unsupported_grant(http: httpx.AsyncClient, client: tuple[str, str]) -> None:
    for form in ({"grant_type": "password", "username": "a", "password": "b"}, {}):
        response = await http.post("/oauth/token", data=form, auth=client)
        assert response.status_code == 400
        assert response.json()["error"] == "unsupported_grant_type"
    # Only form-encoded bodies are token requests.
    as_json = await http.post("/oauth/token", json={"grant_type": "client_credentials"}, auth=client)
    assert as_json.status_code == 400
    assert (await http.get("/oauth/token")).status_code == 405


async def test_scope_beyond_the_clients_is_narrowed(
    http: httpx.AsyncClient, authority: Authority, client: tuple[str, str]
) -> None:
    # authlib's behaviour, kept: known scopes the client lacks are dropped from the grant...
    form = {"grant_type": "client_credentials", "scope": "incidents:read incidents:write"}
    response = await http.post("/oauth/token", data=form, auth=client)
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "incidents:read"
    assert (await authority.verify(response.json()["access_token"])).scopes == frozenset({"incidents:read"})


async def test_scope_outside_the_clients_entirely_is_invalid(
    http: httpx.AsyncClient, client: tuple[str, str]
) -> None:
    # ...but a request left with nothing is refused, as is a scope this server does not know.
    for scope in ("incidents:write", "incidents:read root"):
        response = await http.post(
            "/oauth/token", data={"grant_type": "client_credentials", "scope": scope}, auth=client
        )
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_scope"


async def test_inactive_client_is_refused(
    http: httpx.AsyncClient, authority: Authority, owner: Engine, tenant: uuid.UUID
) -> None:
    client = await authority.create_client(tenant, "Retired", ["incidents:read"], role=Role.CUSTOMER)
    assert (
        await http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=client)
    ).status_code == 200
    set_client_active(owner, tenant, client[0], False)
    response = await http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=client)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


async def test_jwks_publishes_public_keys_only(
    http: httpx.AsyncClient, authority: Authority, client: tuple[str, str]
) -> None:
    response = await http.get("/.well-known/jwks.json")
    assert response.status_code == 200
    document = response.json()
    assert document["keys"]
    for key in document["keys"]:
        assert not PRIVATE_MEMBERS & key.keys(), key
        assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig"
    # The published keys alone verify an issued token.
    issued = await http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=client)
    token = issued.json()["access_token"]
    decoded = jwt.decode(token, KeySet.import_key_set(document), algorithms=["RS256"])
    assert decoded.header["kid"] in {key["kid"] for key in document["keys"]}


async def test_metadata_is_valid_and_points_at_the_public_url(http: httpx.AsyncClient) -> None:
    response = await http.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    document = response.json()
    AuthorizationServerMetadata(document).validate()
    assert document["issuer"] == PUBLIC_URL
    assert document["token_endpoint"] == PUBLIC_URL + "/oauth/token"
    assert document["jwks_uri"] == PUBLIC_URL + "/.well-known/jwks.json"
    assert document["grant_types_supported"] == ["client_credentials"]
    assert set(document["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
    }
    assert "incidents:read" in document["scopes_supported"]
    jwks = await http.get(document["jwks_uri"])
    assert jwks.status_code == 200


async def test_plain_http_is_refused_unless_a_trusted_proxy_says_https(
    http: httpx.AsyncClient, client: tuple[str, str]
) -> None:
    # authlib refuses OAuth over plain HTTP except on loopback. Behind a TLS-terminating proxy the server
    # must trust that proxy's X-Forwarded-Proto (uvicorn trusts 127.0.0.1 by default, as here).
    form = {"grant_type": "client_credentials"}
    plain = await http.post("/oauth/token", data=form, auth=client, headers={"Host": "desk.example"})
    assert plain.status_code == 400
    assert plain.json()["error"] == "insecure_transport"
    proxied = await http.post(
        "/oauth/token", data=form, auth=client, headers={"Host": "desk.example", "X-Forwarded-Proto": "https"}
    )
    assert proxied.status_code == 200, proxied.text
