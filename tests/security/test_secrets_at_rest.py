"""Secrets safe by default (issue 11, row 2): signing keys and webhook secrets are always sealed at rest,
plaintext rows from before are sealed on start, keys rotate, credentials are revoked.

Each test reads the stored rows the way an attacker holding the runtime role would: as
``incidentdesk_app``, whose row-level security admits only the tenants of the transaction's scope.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from joserfc.jwk import RSAKey
from sqlalchemy import create_engine, pool, text

from api.app import create_app
from api.exposure import InsecureSettings
from auth import Authority
from domain.db import Database, create_database, to_sync_url
from domain.sealing import KEY_FILE, SIGNING_KEYS, WEBHOOK_SECRETS, Sealer, SealingError
from domain.settings import Settings
from domain.tenancy.roles import Role
from domain.webhooks.signing import SecretBox, new_secret
from tests import factories as f
from tests.conftest import fresh_database
from tests.waiting import eventually

KEK = "a configured key encryption key"


def as_app_role(test_db: Any, sql: str, tenant_ids: list[uuid.UUID] | None = None) -> list[Any]:
    """One statement as the runtime role, scoped to ``tenant_ids`` (none: the empty scope)."""
    engine = create_engine(to_sync_url(test_db.app_url), poolclass=pool.NullPool)
    try:
        with engine.begin() as connection:
            ids = ",".join(str(t) for t in tenant_ids or [])
            connection.execute(text("SELECT set_config('app.tenant_ids', :ids, true)"), {"ids": ids})
            return list(connection.execute(text(sql)))
    finally:
        engine.dispose()


@dataclass
class World:
    acme: uuid.UUID
    globex: uuid.UUID
    plaintext_kid: str
    plaintext_secret: str
    endpoint: uuid.UUID


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def settings(test_db: Any, data_dir: Path) -> Settings:
    return f.settings_for(
        test_db, key_encryption_key=KEK, data_dir=data_dir, signing_keys_refresh_seconds=0.2
    )


@pytest_asyncio.fixture(scope="module")
async def world(db: Database, test_db: Any) -> World:
    """Rows as a release before sealing-by-default left them: a signing key and a webhook secret in clear."""
    acme = await f.create_tenant(db, "acme")
    globex = await f.create_tenant(db, "globex")
    await f.add_member(db, acme.id, "mona", Role.MANAGER)
    await f.add_member(db, globex.id, "gina", Role.MANAGER)
    key = RSAKey.generate_key(2048, parameters={"alg": "RS256", "use": "sig"}, auto_kid=True)
    f.owner_sql(
        test_db,
        "INSERT INTO signing_keys (kid, algorithm, public_jwk, private_jwk, encrypted, active, created_at)"
        " VALUES (:kid, 'RS256', :public, :private, false, true, now())",
        {
            "kid": key.kid,
            "public": json.dumps(key.as_dict(private=False)),
            "private": json.dumps(key.as_dict(private=True)),
        },
    )
    secret = new_secret()
    endpoint = uuid.uuid4()
    f.owner_sql(
        test_db,
        "INSERT INTO webhook_endpoints (tenant_id, id, url, event_kinds, secret, active, last_seq, created_by,"
        " created_at) VALUES (:t, :id, 'https://hooks.example.com/x', '[\"CREATED\"]', :s, false, 0, 'gina', now())",
        {"t": globex.id, "id": endpoint, "s": secret},
    )
    return World(acme.id, globex.id, key.kid or "", secret, endpoint)


@pytest.fixture(scope="module")
def live(test_db: Any, settings: Settings, world: World) -> Iterator[f.LiveApp]:
    with f.app_server(test_db, settings) as served:
        yield served


def test_plaintext_rows_are_sealed_on_first_start(live: f.LiveApp, test_db: Any, world: World) -> None:
    def sealed() -> bool:
        keys = as_app_role(test_db, "SELECT encrypted, private_jwk FROM signing_keys")
        secrets = as_app_role(test_db, "SELECT secret FROM webhook_endpoints", [world.globex])
        return all(e for e, _ in keys) and all(s.startswith("fernet:") for (s,) in secrets)

    eventually(sealed, "the plaintext rows sealed")
    # What the runtime role reads is no key and no secret.
    for _, private in as_app_role(test_db, "SELECT encrypted, private_jwk FROM signing_keys"):
        with pytest.raises(json.JSONDecodeError):
            json.loads(private)
        assert '"d"' not in private
    (stored,) = as_app_role(test_db, "SELECT secret FROM webhook_endpoints", [world.globex])
    assert world.plaintext_secret not in stored[0]
    assert SecretBox(Sealer([KEK], WEBHOOK_SECRETS)).open(stored[0]) == world.plaintext_secret


def _kid(token: str) -> str:
    header = token.split(".")[0]
    return str(json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"])


async def test_the_resealed_key_still_signs(
    live: f.LiveApp, test_db: Any, settings: Settings, db: Database, world: World
) -> None:
    eventually(
        lambda: all(e for (e,) in f.owner_sql(test_db, "SELECT encrypted FROM signing_keys")),
        "the key sealed",
    )
    token = await f.mint_token(settings, db, "mona")
    assert _kid(token) == world.plaintext_kid
    assert live.gql_ok(token, "{ viewer { subject } }")["viewer"]["subject"] == "mona"


def test_the_runtime_role_reads_no_other_tenants_webhook_secret(test_db: Any, world: World) -> None:
    # Row-level security: in acme's scope, or in none, globex's endpoint is not there at all.
    assert as_app_role(test_db, "SELECT secret FROM webhook_endpoints", [world.acme]) == []
    assert as_app_role(test_db, "SELECT secret FROM webhook_endpoints") == []
    assert len(as_app_role(test_db, "SELECT secret FROM webhook_endpoints", [world.globex])) == 1


# ---------------------------------------------------------------- the embedded default, then a configured key


async def test_a_data_dir_key_seals_by_default_and_a_configured_one_takes_over(
    cluster: Any, template_name: str, tmp_path: Path
) -> None:
    database = fresh_database(cluster, "kek", template=template_name)
    db = create_database(database.app_url, pool_size=2)
    plain = Settings(
        database_url=database.owner_url,
        app_database_url=database.app_url,
        public_url=f.ISSUER,
        data_dir=tmp_path,
    )
    made: list[Authority] = []
    try:
        made.append(Authority(plain, db))
        token = await made[-1].mint("alice")
        key_file = tmp_path / KEY_FILE
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        generated = key_file.read_text().strip()
        (row,) = f.owner_sql(database, "SELECT encrypted, private_jwk FROM signing_keys")
        assert row.encrypted
        assert "d" in json.loads(Sealer([generated], SIGNING_KEYS).open(row.private_jwk))

        # A key configured later: the next start moves the sealing to it.
        configured = plain.model_copy(update={"key_encryption_key": "configured later"})
        made.append(Authority(configured, db))
        assert await made[-1].keys.reseal() == 1
        assert await made[-1].keys.reseal() == 0
        (row,) = f.owner_sql(database, "SELECT encrypted, private_jwk FROM signing_keys")
        assert Sealer(["configured later"], SIGNING_KEYS).is_current(row.private_jwk)
        # The data-dir key is no longer needed: the configured one alone opens it.
        key_file.unlink()
        alone = configured.model_copy(update={"data_dir": tmp_path / "elsewhere"})
        made.append(Authority(alone, db))
        assert _kid(await made[-1].mint("bob")) == _kid(token)
    finally:
        for authority in made:
            await authority.aclose()
        await db.dispose()
        cluster.drop_database(database.name)


# ---------------------------------------------------------------- production mode


def test_production_refuses_to_start_on_insecure_settings(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INCIDENTDESK_")}
    env.update(
        INCIDENTDESK_ENV="production",
        INCIDENTDESK_WEBHOOK_ALLOW_PRIVATE_TARGETS="true",
        INCIDENTDESK_CORS_ORIGINS="https://portal.example.com,*",
    )
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", "serve"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 3, done.stderr
    for line, setting in zip(
        lines, ["KEY_ENCRYPTION_KEY", "WEBHOOK_ALLOW_PRIVATE_TARGETS", "CORS_ORIGINS"], strict=True
    ):
        assert f"INCIDENTDESK_{setting}" in line
    assert not (tmp_path / ".incidentdesk").exists(), "nothing was started or generated"
    with pytest.raises(InsecureSettings):
        create_app(Settings(env="production"))
    with pytest.raises(SealingError):
        Sealer.for_settings(Settings(env="production", data_dir=tmp_path), SIGNING_KEYS)


PORTAL = "https://portal.example.com"


@pytest.fixture(scope="module")
def production(test_db: Any, settings: Settings, world: World) -> Iterator[f.LiveApp]:
    strict = settings.model_copy(update={"env": "production", "cors_origins": PORTAL})
    with f.app_server(test_db, strict) as served:
        yield served


async def test_production_shows_no_more_than_it_must(
    production: f.LiveApp, settings: Settings, db: Database
) -> None:
    async with httpx.AsyncClient(base_url=production.url, timeout=30) as http:
        ide = await http.get("/graphql", headers={"accept": "text/html"})
        assert ide.status_code == 404
        introspection = {"query": "{ __schema { queryType { name } } }"}
        anonymous = (await http.post("/graphql", json=introspection)).json()
        assert anonymous.get("errors") and not anonymous.get("data")
        token = await f.mint_token(settings, db, "mona")
        member = (
            await http.post("/graphql", json=introspection, headers={"authorization": f"Bearer {token}"})
        ).json()
        assert member["data"]["__schema"]["queryType"]["name"] == "Query"
        typo = (
            await http.post(
                "/graphql",
                json={"query": "{ incidnts { totalCount } }"},
                headers={"authorization": f"Bearer {token}"},
            )
        ).json()
        assert typo["errors"] and "Did you mean" not in json.dumps(typo)
        preflight = {"origin": PORTAL, "access-control-request-method": "POST"}
        allowed = await http.options("/graphql", headers=preflight)
        assert allowed.headers.get("access-control-allow-origin") == PORTAL
        other = await http.options("/graphql", headers={**preflight, "origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_development_suggests_fields_and_serves_introspection(live: f.LiveApp) -> None:
    body = f.post_graphql(live.url, None, "{ __schema { queryType { name } } }").json()
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"
    assert httpx.get(f"{live.url}/graphql", headers={"accept": "text/html"}, timeout=30).status_code == 200


# ---------------------------------------------------------------- rotation and revocation


@dataclass(frozen=True)
class Cli:
    env: dict[str, str]
    cwd: Path

    def __call__(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "api.cli", *args],
            env=self.env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout


@pytest.fixture(scope="module")
def cli(test_db: Any, data_dir: Path) -> Cli:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INCIDENTDESK_")}
    env.update(
        INCIDENTDESK_DATABASE_URL=test_db.owner_url,
        INCIDENTDESK_PUBLIC_URL=f.ISSUER,
        INCIDENTDESK_KEY_ENCRYPTION_KEY=KEK,
        INCIDENTDESK_LOG_LEVEL="warning",
    )
    return Cli(env=env, cwd=data_dir)


async def apost(url: str, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(url, **kwargs)


def _jwks_kids(live: f.LiveApp) -> set[str]:
    keys = httpx.get(f"{live.url}/.well-known/jwks.json", timeout=30).json()["keys"]
    return {key["kid"] for key in keys}


async def test_keys_rotate_keeps_the_old_key_until_its_tokens_expire(
    live: f.LiveApp, cli: Cli, test_db: Any, settings: Settings, db: Database
) -> None:
    old_token = await f.mint_token(settings, db, "mona")
    old = _kid(old_token)
    rotated = json.loads(cli("keys", "rotate"))
    new = rotated["kid"]
    assert new != old and old in {k["kid"] for k in rotated["retiring"]}
    # Every replica reads the keys again within signing_keys_refresh_seconds: both are published.
    eventually(lambda: _jwks_kids(live) >= {old, new}, "both keys in the JWKS")
    new_token = await f.mint_token(settings, db, "mona")
    assert _kid(new_token) == new
    for token in (old_token, new_token):
        assert live.gql_ok(token, "{ viewer { subject } }")["viewer"]["subject"] == "mona"

    # Its tokens have expired (the stored retirement moved rather than waiting a day): it retires.
    f.owner_sql(
        test_db,
        "UPDATE signing_keys SET retire_after = now() - interval '1 second' WHERE kid = :k",
        {"k": old},
    )
    eventually(lambda: old not in _jwks_kids(live), "the old key gone from the JWKS")
    refused = f.post_graphql(live.url, old_token, "{ viewer { subject } }")
    assert refused.status_code == 401
    assert live.gql_ok(new_token, "{ viewer { subject } }")["viewer"]["subject"] == "mona"
    authority = Authority(settings, db)
    try:
        states = {key.kid: key.state for key in await authority.keys.describe()}
    finally:
        await authority.aclose()
    assert states[old] == "RETIRED" and states[new] == "SIGNING"


async def test_client_revoke_ends_the_clients_access_at_once(
    live: f.LiveApp, cli: Cli, world: World, db: Database, settings: Settings
) -> None:
    mona = f.actor("mona", {world.acme: Role.MANAGER})
    await f.report(db, mona, world.acme, "Seen by the partner")
    authority = Authority(settings, db)
    try:
        client_id, secret = await authority.create_client(world.acme, "Partner", ["incidents:read"])
    finally:
        await authority.aclose()
    created = {"client_id": client_id}
    auth = (client_id, secret)
    form = {"grant_type": "client_credentials"}
    token = (await apost(f"{live.url}/oauth/token", data=form, auth=auth, timeout=30)).json()["access_token"]
    count = "{ incidents { totalCount } }"
    assert live.gql_ok(token, count)["incidents"]["totalCount"] >= 1
    assert json.loads(cli("client", "revoke", created["client_id"])) == {
        "client_id": created["client_id"],
        "revoked": True,
    }
    assert (await apost(f"{live.url}/oauth/token", data=form, auth=auth, timeout=30)).status_code == 401
    # The token it still holds names no tenant any more.
    assert live.gql_ok(token, "{ viewer { memberships { role } } }")["viewer"]["memberships"] == []
    assert live.gql_ok(token, count)["incidents"]["totalCount"] == 0


async def test_revoke_integration_key(live: f.LiveApp, settings: Settings, db: Database) -> None:
    tokens = await f.mint_tokens(settings, db, "mona", "gina")
    created = live.gql_ok(
        tokens["mona"],
        'mutation { createIntegrationKey(input: {tenant: "acme", name: "Zabbix"}) '
        "{ integrationKey { id routingKey active } } }",
    )["createIntegrationKey"]["integrationKey"]
    event = {
        "routing_key": created["routingKey"],
        "event_action": "trigger",
        "payload": {"summary": "disk full", "source": "db-1", "severity": "warning"},
    }
    assert (await apost(f"{live.url}/v2/enqueue", json=event, timeout=30)).status_code == 202
    revoke = "mutation($id: ID!) { revokeIntegrationKey(input: {id: $id}) { integrationKey { active } userErrors { field code } } }"
    # Another tenant's manager: exactly like a key that does not exist.
    theirs = live.gql_ok(tokens["gina"], revoke, {"id": created["id"]})["revokeIntegrationKey"]
    nobody = live.gql_ok(tokens["gina"], revoke, {"id": f.encode_id("IntegrationKey", uuid.uuid4())})
    assert theirs == nobody["revokeIntegrationKey"]
    assert theirs["userErrors"][0]["code"] == "NOT_FOUND"
    assert (await apost(f"{live.url}/v2/enqueue", json=event, timeout=30)).status_code == 202
    done = live.gql_ok(tokens["mona"], revoke, {"id": created["id"]})["revokeIntegrationKey"]
    assert done == {"integrationKey": {"active": False}, "userErrors": []}
    refused = await apost(f"{live.url}/v2/enqueue", json=event, timeout=30)
    assert refused.status_code == 400


async def test_rotate_webhook_secret_and_enable_an_endpoint(
    live: f.LiveApp, test_db: Any, settings: Settings, db: Database, world: World
) -> None:
    tokens = await f.mint_tokens(settings, db, "mona", "gina")
    endpoint = f.encode_id("WebhookEndpoint", world.endpoint)
    rotate = "mutation($id: ID!) { rotateWebhookSecret(input: {id: $id}) { secret endpoint { id } userErrors { code } } }"
    enable = "mutation($id: ID!) { enableWebhookEndpoint(input: {id: $id}) { secret endpoint { active } userErrors { code } } }"
    for mutation in (rotate, enable):
        theirs = live.gql_ok(tokens["mona"], mutation, {"id": endpoint})
        nobody = live.gql_ok(tokens["mona"], mutation, {"id": f.encode_id("WebhookEndpoint", uuid.uuid4())})
        assert theirs == nobody
        assert next(iter(theirs.values()))["userErrors"][0]["code"] == "NOT_FOUND"
    rotated = live.gql_ok(tokens["gina"], rotate, {"id": endpoint})["rotateWebhookSecret"]
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != world.plaintext_secret
    ((stored,),) = f.owner_sql(
        test_db, "SELECT secret FROM webhook_endpoints WHERE id = :id", {"id": world.endpoint}
    )
    assert rotated["secret"] not in stored
    assert SecretBox(Sealer([KEK], WEBHOOK_SECRETS)).open(stored) == rotated["secret"]
    enabled = live.gql_ok(tokens["gina"], enable, {"id": endpoint})["enableWebhookEndpoint"]
    assert enabled == {"secret": None, "endpoint": {"active": True}, "userErrors": []}
