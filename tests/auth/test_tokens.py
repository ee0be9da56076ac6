"""Built-in issuer: minting, verification, refusals, and principals resolved through memberships."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import Engine, func, select

from auth import Authority, InvalidToken
from domain.db import Database, Scope
from domain.settings import Settings
from domain.tenancy.models import Membership
from domain.tenancy.roles import ALL_SCOPES, Role
from tests.auth import crafting
from tests.auth.seed import add_membership, add_operator, add_tenant, is_superuser

ISSUER = "https://incidentdesk.test"
AUDIENCE = "incidentdesk"


@dataclass
class World:
    acme: uuid.UUID
    globex: uuid.UUID
    initech: uuid.UUID


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings(public_url=ISSUER, audience=AUDIENCE)


@pytest_asyncio.fixture(scope="module")
async def authority(settings: Settings, db: Database) -> AsyncIterator[Authority]:
    authority = Authority(settings, db)
    yield authority
    await authority.aclose()


@pytest.fixture(scope="module")
def world(owner: Engine) -> World:
    acme, globex, initech = (add_tenant(owner, slug) for slug in ("acme", "globex", "initech"))
    add_membership(owner, acme, ISSUER, "alice", Role.AGENT)
    add_membership(owner, globex, ISSUER, "alice", Role.CUSTOMER)
    # Same subject name, another issuer: a different person, never merged with alice.
    add_membership(owner, initech, "https://other-idp.test", "alice", Role.MANAGER)
    add_membership(owner, initech, ISSUER, "bob", Role.MANAGER)
    add_operator(owner, ISSUER, "olga")
    return World(acme=acme, globex=globex, initech=initech)


def test_seeding_connection_bypasses_row_level_security(owner: Engine) -> None:
    # The seeding helpers also set app.tenant_ids, so they work either way; this records which way it is.
    assert is_superuser(owner)


async def test_minted_token_resolves_memberships_and_rights(authority: Authority, world: World) -> None:
    before = int(time.time())
    token = await authority.mint("alice", scopes=["incidents:read", "bulletins:write", "sla:read"])
    after = time.time()
    verified = await authority.verify(token)
    assert verified.issuer == ISSUER
    assert verified.subject == "alice"
    assert verified.scopes == frozenset({"incidents:read", "bulletins:write", "sla:read"})
    assert verified.client_id is None
    assert before + 3600 <= verified.expires_at.timestamp() <= after + 3600

    principal = await authority.principal(verified)
    assert dict(principal.memberships) == {world.acme: Role.AGENT, world.globex: Role.CUSTOMER}
    assert principal.tenant_ids == {world.acme, world.globex}
    assert not principal.is_operator
    assert not principal.is_client
    assert principal.role_in(world.acme) is Role.AGENT
    # AGENT grants all three; the token asked for no incidents:write, so it has none.
    assert principal.rights_in(world.acme) == {"incidents:read", "bulletins:write", "sla:read"}
    assert not principal.can("incidents:write", world.acme)
    # CUSTOMER has no bulletins:write, whatever the token's scopes say.
    assert principal.rights_in(world.globex) == {"incidents:read", "sla:read"}
    assert not principal.can("bulletins:write", world.globex)
    # bob's tenant, and the other issuer's "alice": nothing.
    assert principal.role_in(world.initech) is None
    assert principal.rights_in(world.initech) == frozenset()


async def test_header_carries_kid_and_claims_are_complete(authority: Authority) -> None:
    token = await authority.mint("alice", ttl_seconds=120, extra_claims={"name": "Alice"})
    claims = (await authority.verify(token)).claims
    assert {"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "scope"} <= claims.keys()
    assert claims["exp"] - claims["iat"] == 120
    assert claims["name"] == "Alice"
    assert set(claims["scope"].split()) == ALL_SCOPES
    key = await authority.keys.signing_key()
    assert jwt.decode(token, key).header["kid"] == key.kid


async def test_mint_refuses_unknown_scopes_and_reserved_claims(authority: Authority) -> None:
    with pytest.raises(ValueError, match="unknown scopes"):
        await authority.mint("alice", scopes=["incidents:read", "root"])
    with pytest.raises(ValueError, match="iss"):
        await authority.mint("alice", extra_claims={"iss": "https://evil.test"})
    with pytest.raises(ValueError, match="client_id"):
        await authority.mint("alice", extra_claims={"client_id": "alice"})


async def test_token_without_scope_claim_leaves_rights_to_the_role(
    authority: Authority, world: World
) -> None:
    key = await authority.keys.signing_key()
    token = crafting.signed(key, crafting.claims(ISSUER, AUDIENCE, "bob"))
    verified = await authority.verify(token)
    assert verified.scopes is None
    principal = await authority.principal(verified)
    assert principal.scopes == ALL_SCOPES
    assert principal.rights_in(world.initech) == ALL_SCOPES


async def test_empty_scope_claim_grants_nothing(authority: Authority, world: World) -> None:
    principal = await authority.principal(await authority.verify(await authority.mint("bob", scopes=[])))
    assert principal.scopes == frozenset()
    assert principal.rights_in(world.initech) == frozenset()


async def test_subject_without_membership_sees_no_tenant(
    authority: Authority, world: World, db: Database
) -> None:
    principal = await authority.principal(await authority.verify(await authority.mint("mallory")))
    assert principal.memberships == {}
    assert principal.tenant_ids == frozenset()
    assert not principal.is_operator
    for tenant in (world.acme, world.globex, world.initech):
        assert principal.rights_in(tenant) == frozenset()
    # And a transaction scoped to the principal's tenants sees no tenant-owned row at all.
    async with db.transaction(Scope.of(principal.tenant_ids)) as session:
        assert await session.scalar(select(func.count()).select_from(Membership)) == 0


async def test_operator_flag(authority: Authority, world: World) -> None:
    principal = await authority.principal(await authority.verify(await authority.mint("olga")))
    assert principal.is_operator
    assert principal.memberships == {}


async def test_authenticate_reads_the_bearer_header(authority: Authority, world: World) -> None:
    assert await authority.authenticate(None) is None
    token = await authority.mint("alice")
    principal = await authority.authenticate(f"Bearer {token}")
    assert principal is not None and principal.subject == "alice"
    assert (await authority.authenticate(f"bearer {token}")) == principal
    for header in ("", "Bearer", "Bearer   ", f"Basic {token}", token, "Bearer not-a-jwt"):
        with pytest.raises(InvalidToken):
            await authority.authenticate(header)


async def _refused(authority: Authority, token: str, reason: str) -> None:
    with pytest.raises(InvalidToken) as caught:
        await authority.verify(token)
    assert reason in caught.value.reason


async def test_refuses_expired(authority: Authority) -> None:
    key = await authority.keys.signing_key()
    now = int(time.time())
    payload = crafting.claims(ISSUER, AUDIENCE, iat=now - 600, nbf=now - 600, exp=now - 60)
    await _refused(authority, crafting.signed(key, payload), "expired")
    # Within the leeway, clock skew is forgiven.
    await authority.verify(crafting.signed(key, crafting.claims(ISSUER, AUDIENCE, exp=now - 5)))


async def test_refuses_not_yet_valid(authority: Authority) -> None:
    key = await authority.keys.signing_key()
    now = int(time.time())
    payload = crafting.claims(ISSUER, AUDIENCE, nbf=now + 120, iat=now, exp=now + 600)
    await _refused(authority, crafting.signed(key, payload), "not yet valid")


async def test_refuses_wrong_audience(authority: Authority) -> None:
    key = await authority.keys.signing_key()
    await _refused(authority, crafting.signed(key, crafting.claims(ISSUER, "another-api")), "audience")
    await _refused(authority, crafting.signed(key, crafting.claims(ISSUER, None)), "missing claim: aud")


async def test_refuses_unknown_issuer(authority: Authority) -> None:
    key = await authority.keys.signing_key()
    # Even signed with our own key: an issuer we do not trust is refused before any key is tried.
    await _refused(authority, crafting.signed(key, crafting.claims("https://evil.test", AUDIENCE)), "issuer")
    await _refused(authority, crafting.signed(key, crafting.claims(None, AUDIENCE)), "issuer")


async def test_refuses_bad_signature(authority: Authority) -> None:
    key = await authority.keys.signing_key()
    impostor = RSAKey.generate_key(2048)
    forged = crafting.signed(impostor, crafting.claims(ISSUER, AUDIENCE), kid=key.kid)
    await _refused(authority, forged, "bad signature")
    # A genuine token whose payload was swapped.
    genuine = crafting.signed(key, crafting.claims(ISSUER, AUDIENCE, subject="mallory"))
    header, _, signature = genuine.split(".")
    alice = crafting.b64url(json.dumps(crafting.claims(ISSUER, AUDIENCE, subject="alice")).encode())
    await _refused(authority, f"{header}.{alice}.{signature}", "bad signature")


async def test_refuses_alg_none(authority: Authority) -> None:
    key = await authority.keys.signing_key()
    assert key.kid is not None
    token = crafting.unsigned(crafting.claims(ISSUER, AUDIENCE), kid=key.kid)
    await _refused(authority, token, "not allowed")


async def test_refuses_hmac_with_the_public_key_as_secret(authority: Authority) -> None:
    # Algorithm confusion: HS256 keyed with the published public key. joserfc will not even build such a
    # token, so it is put together by hand.
    key = await authority.keys.signing_key()
    header = crafting.b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": key.kid}).encode())
    payload = crafting.b64url(json.dumps(crafting.claims(ISSUER, AUDIENCE)).encode())
    mac = hmac.new(key.as_pem(private=False), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    await _refused(authority, f"{header}.{payload}.{crafting.b64url(mac)}", "not allowed")


async def test_refuses_unknown_kid(authority: Authority) -> None:
    impostor = RSAKey.generate_key(2048)
    await _refused(
        authority, crafting.signed(impostor, crafting.claims(ISSUER, AUDIENCE), kid="no-such-key"), "kid"
    )


async def test_refuses_missing_sub(authority: Authority) -> None:
    key = await authority.keys.signing_key()
    await _refused(authority, crafting.signed(key, crafting.claims(ISSUER, AUDIENCE, subject=None)), "sub")
    await _refused(authority, crafting.signed(key, crafting.claims(ISSUER, AUDIENCE, subject="")), "sub")


async def test_refuses_client_id_that_is_not_the_subject(authority: Authority) -> None:
    key = await authority.keys.signing_key()
    token = crafting.signed(key, crafting.claims(ISSUER, AUDIENCE, subject="alice", client_id="idc_other"))
    await _refused(authority, token, "client_id")


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "a.b", "x" * 20_000, "é.é.é"])
async def test_refuses_garbage(authority: Authority, garbage: str) -> None:
    await _refused(authority, garbage, "malformed")
