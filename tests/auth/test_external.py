"""External OIDC issuers: a real identity provider stand-in on loopback, discovery, rotation, rate limiting."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import pytest
import pytest_asyncio
from joserfc.jwk import ECKey, Key, KeySet, RSAKey
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from auth import Authority, InvalidToken
from auth.jwks import RemoteKeySet
from domain.db import Database
from domain.settings import Settings
from domain.tenancy.roles import Role
from tests.auth import crafting
from tests.auth.seed import add_membership, add_tenant
from tests.server import listening_socket, serve

AUDIENCE = "partner-api"


@dataclass
class IdentityProvider:
    """What the stand-in provider serves; tests rotate keys and break it at will."""

    issuer: str
    keys: list[Key] = field(default_factory=list)
    jwks_hits: int = 0
    failing: bool = False

    def rotate(self, key: Key | None = None) -> Key:
        key = key or RSAKey.generate_key(2048, parameters={"alg": "RS256", "use": "sig"}, auto_kid=True)
        self.keys = [key]
        return key

    def app(self) -> Starlette:
        async def discovery(request: Request) -> Response:
            return JSONResponse({"issuer": self.issuer, "jwks_uri": self.issuer + "/protocol/certs"})

        async def certs(request: Request) -> Response:
            self.jwks_hits += 1
            if self.failing:
                return JSONResponse({"error": "down"}, status_code=503)
            return JSONResponse(KeySet(list(self.keys)).as_dict(private=False))

        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", discovery),
                Route("/protocol/certs", certs),
            ]
        )


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def idp() -> Iterator[IdentityProvider]:
    sock = listening_socket()
    provider = IdentityProvider(issuer=f"http://127.0.0.1:{sock.getsockname()[1]}")
    provider.rotate()
    with serve(provider.app(), sock=sock):
        yield provider


@pytest.fixture(scope="module")
def settings(idp: IdentityProvider) -> Settings:
    # No jwks_uri: it is discovered from the provider's openid-configuration.
    issuers = [{"issuer": idp.issuer, "audience": AUDIENCE}]
    return Settings(
        public_url="https://incidentdesk.test", oidc_issuers=json.dumps(issuers), jwks_cache_seconds=300
    )


@pytest.fixture(scope="module")
def clock() -> FakeClock:
    return FakeClock()


@pytest_asyncio.fixture(scope="module")
async def authority(settings: Settings, db: Database, clock: FakeClock) -> AsyncIterator[Authority]:
    authority = Authority(settings, db)
    for _audience, remote in authority.verifier.external.values():
        remote.clock = clock
    yield authority
    await authority.aclose()


@pytest.fixture(scope="module")
def tenant(owner: Engine, idp: IdentityProvider) -> uuid.UUID:
    tenant_id = add_tenant(owner, "hooli")
    add_membership(owner, tenant_id, idp.issuer, "user-7f3a", Role.MANAGER)
    return tenant_id


def remote_of(authority: Authority, idp: IdentityProvider) -> RemoteKeySet:
    return authority.verifier.external[idp.issuer][1]


def token_from(idp: IdentityProvider, key: Key, **claims: object) -> str:
    payload = crafting.claims(idp.issuer, AUDIENCE, "user-7f3a", **claims)
    return crafting.signed(key, payload, alg=key.alg or "RS256")


async def test_external_token_is_accepted_and_resolves(
    authority: Authority, idp: IdentityProvider, tenant: uuid.UUID
) -> None:
    token = token_from(idp, idp.keys[0], scp=["incidents:read", "sla:read"])
    verified = await authority.verify(token)
    assert verified.issuer == idp.issuer
    assert verified.client_id is None
    assert verified.scopes == frozenset({"incidents:read", "sla:read"})
    principal = await authority.principal(verified)
    assert dict(principal.memberships) == {tenant: Role.MANAGER}
    assert principal.rights_in(tenant) == {"incidents:read", "sla:read"}
    assert remote_of(authority, idp).fetches == 1


async def test_space_separated_scp_as_entra_sends_it(authority: Authority, idp: IdentityProvider) -> None:
    verified = await authority.verify(token_from(idp, idp.keys[0], scp="incidents:read incidents:write"))
    assert verified.scopes == frozenset({"incidents:read", "incidents:write"})


async def test_external_token_needs_the_issuers_own_audience(
    authority: Authority, idp: IdentityProvider
) -> None:
    token = crafting.signed(idp.keys[0], crafting.claims(idp.issuer, "incidentdesk", "user-7f3a"))
    with pytest.raises(InvalidToken, match="audience"):
        await authority.verify(token)


async def test_a_client_id_claim_from_outside_is_not_a_client(
    authority: Authority, idp: IdentityProvider
) -> None:
    verified = await authority.verify(token_from(idp, idp.keys[0], client_id="some-app"))
    assert verified.client_id is None


async def test_rotation_is_picked_up_and_refreshes_are_rate_limited(
    authority: Authority, idp: IdentityProvider, clock: FakeClock
) -> None:
    remote = remote_of(authority, idp)
    await authority.verify(token_from(idp, idp.keys[0]))
    fetches, hits = remote.fetches, idp.jwks_hits

    # The provider rotates; a token under the new kid triggers one refresh and is accepted.
    clock.advance(11)
    second = idp.rotate()
    await authority.verify(token_from(idp, second))
    assert remote.fetches == fetches + 1
    assert idp.jwks_hits == hits + 1

    # Rotating again at once: within the refresh interval nothing is fetched, so the token is refused...
    third = idp.rotate(ECKey.generate_key("P-256", parameters={"alg": "ES256"}, auto_kid=True))
    with pytest.raises(InvalidToken, match="kid"):
        await authority.verify(token_from(idp, third))
    # ...and a flood of made-up kids does not reach the provider either.
    impostor = RSAKey.generate_key(2048)
    flood = [crafting.signed(impostor, crafting.claims(idp.issuer, AUDIENCE), kid=f"k{i}") for i in range(50)]
    results = await asyncio.gather(*(authority.verify(t) for t in flood), return_exceptions=True)
    assert all(isinstance(result, InvalidToken) for result in results)
    assert remote.fetches == fetches + 1
    assert idp.jwks_hits == hits + 1

    # Once the interval has passed, the new key is found.
    clock.advance(11)
    verified = await authority.verify(token_from(idp, third))
    assert verified.subject == "user-7f3a"
    assert idp.jwks_hits == hits + 2


async def test_last_good_keys_survive_a_provider_outage(
    authority: Authority, idp: IdentityProvider, clock: FakeClock
) -> None:
    key = idp.keys[0]
    await authority.verify(token_from(idp, key))
    idp.failing = True
    try:
        clock.advance(301)  # past jwks_cache_seconds: a refresh is attempted and fails
        hits = idp.jwks_hits
        await authority.verify(token_from(idp, key))
        assert idp.jwks_hits == hits + 1
    finally:
        idp.failing = False


async def test_signature_by_another_key_under_the_providers_kid(
    authority: Authority, idp: IdentityProvider
) -> None:
    key = idp.keys[0]
    alg = key.alg or "RS256"
    impostor: Key = ECKey.generate_key("P-256") if alg == "ES256" else RSAKey.generate_key(2048)
    token = crafting.signed(impostor, crafting.claims(idp.issuer, AUDIENCE), kid=key.kid, alg=alg)
    with pytest.raises(InvalidToken, match="bad signature"):
        await authority.verify(token)


async def test_explicit_jwks_uri_skips_discovery(idp: IdentityProvider, db: Database) -> None:
    issuers = [{"issuer": idp.issuer, "audience": AUDIENCE, "jwks_uri": idp.issuer + "/protocol/certs"}]
    settings = Settings(public_url="https://incidentdesk.test", oidc_issuers=json.dumps(issuers))
    authority = Authority(settings, db)
    try:
        key = idp.keys[0]
        verified = await authority.verify(token_from(idp, key))
        assert verified.issuer == idp.issuer
    finally:
        await authority.aclose()


async def test_discovery_naming_another_issuer_is_not_trusted(idp: IdentityProvider, db: Database) -> None:
    # Configured with a trailing slash: the discovery document names the issuer without it, so the keys
    # found there are not this issuer's keys.
    lookalike = idp.issuer + "/"
    settings = Settings(
        public_url="https://incidentdesk.test",
        oidc_issuers=json.dumps([{"issuer": lookalike, "audience": AUDIENCE}]),
    )
    authority = Authority(settings, db)
    try:
        key = idp.keys[0]
        token = crafting.signed(key, crafting.claims(lookalike, AUDIENCE), alg=key.alg or "RS256")
        with pytest.raises(InvalidToken, match="kid"):
            await authority.verify(token)
    finally:
        await authority.aclose()
