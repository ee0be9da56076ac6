"""The built-in issuer's keys in the database: encrypted at rest, created once however many start at once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio
from joserfc import jwt
from sqlalchemy import Engine

from auth import Authority
from auth.keys import KeyDecryptionError
from domain.db import Database, create_database
from domain.settings import Settings
from tests.auth.seed import clear_signing_keys, signing_key_rows

if TYPE_CHECKING:
    from tests.conftest import TestDatabase

PUBLIC_URL = "https://incidentdesk.test"
KEK = "correct horse battery staple"


@pytest_asyncio.fixture
async def fresh(owner: Engine, db: Database) -> AsyncIterator[Callable[..., Authority]]:
    """Authorities over an empty signing_keys table, closed afterwards."""
    clear_signing_keys(owner)
    made: list[Authority] = []

    def make(key_encryption_key: str | None = None, database: Database | None = None) -> Authority:
        settings = Settings(public_url=PUBLIC_URL, key_encryption_key=key_encryption_key)
        authority = Authority(settings, database or db)
        made.append(authority)
        return authority

    yield make
    for authority in made:
        await authority.aclose()


async def test_sealed_even_without_a_key_encryption_key(
    fresh: Callable[..., Authority], owner: Engine
) -> None:
    # The key generated into the data dir seals it: nothing is ever stored in clear.
    await fresh().mint("alice")
    (row,) = signing_key_rows(owner)
    assert row.encrypted
    with pytest.raises(json.JSONDecodeError):
        json.loads(row.private_jwk)
    assert "d" not in json.loads(row.public_jwk)


async def test_encrypted_at_rest_and_still_usable(fresh: Callable[..., Authority], owner: Engine) -> None:
    first = fresh(KEK)
    token = await first.mint("alice")
    (row,) = signing_key_rows(owner)
    assert row.encrypted
    with pytest.raises(json.JSONDecodeError):
        json.loads(row.private_jwk)
    key = await first.keys.signing_key()
    private = key.as_dict(private=True)
    assert isinstance(private["d"], str) and private["d"] not in row.private_jwk
    assert json.loads(row.public_jwk)["kid"] == row.kid == key.kid

    # Another process with the same key encryption key opens the stored key and signs with it.
    second = fresh(KEK)
    assert (await second.verify(token)).subject == "alice"
    again = await second.mint("bob")
    assert jwt.decode(again, key).header["kid"] == row.kid
    assert (await first.verify(again)).subject == "bob"
    assert len(signing_key_rows(owner)) == 1


async def test_a_wrong_key_encryption_key_cannot_sign_but_can_verify(
    fresh: Callable[..., Authority], owner: Engine
) -> None:
    token = await fresh(KEK).mint("alice")
    for misconfigured in (fresh("another key"), fresh(None)):
        with pytest.raises(KeyDecryptionError):
            await misconfigured.mint("mallory")
        # Verification needs only the public keys, so this replica still serves requests.
        assert (await misconfigured.verify(token)).subject == "alice"
    assert len(signing_key_rows(owner)) == 1


async def test_concurrent_first_use_creates_one_key(
    fresh: Callable[..., Authority], owner: Engine, test_db: TestDatabase
) -> None:
    # Separate pools stand for separate processes starting at the same moment.
    pools = [create_database(test_db.app_url, pool_size=1) for _ in range(4)]
    try:
        authorities = [fresh(KEK, database) for database in pools]
        tokens = await asyncio.gather(
            *(authority.mint(f"user{i}") for i, authority in enumerate(authorities))
        )
    finally:
        for database in pools:
            await database.dispose()
    rows = signing_key_rows(owner)
    assert len(rows) == 1 and rows[0].active
    assert {
        jwt.decode(token, (await authorities[0].keys.public_keys())).header["kid"] for token in tokens
    } == {rows[0].kid}
