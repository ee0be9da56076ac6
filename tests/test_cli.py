"""The ``incidentdesk`` command line, run as a real subprocess against a real database and server."""

from __future__ import annotations

import csv
import io
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, func, pool, select, text

from api.demo import DEMO_CONTRACTS
from auth import Authority
from domain.bulletins.models import Bulletin
from domain.db import Base, create_database, to_sync_url
from domain.incidents.models import Incident, IncidentEvent
from domain.mail.models import OutgoingMail
from domain.settings import Settings
from domain.sla.models import SlaContract
from domain.status_subscribers.models import StatusSubscriber
from domain.tenancy.models import Membership, Tenant
from tests.conftest import TestDatabase as DatabaseUnderTest
from tests.server import free_port, stop_process
from tests.waiting import PATIENCE, eventually

PUBLIC_URL = "https://desk.cli.test"


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


@dataclass(frozen=True)
class Cli:
    env: dict[str, str]
    cwd: Path

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "api.cli", *args]

    def __call__(self, *args: str) -> Result:
        done = subprocess.run(
            self.argv(*args), env=self.env, cwd=self.cwd, capture_output=True, text=True, timeout=60
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def ok(self, *args: str) -> str:
        result = self(*args)
        assert result.code == 0, result.err
        return result.out


@pytest.fixture(scope="module")
def cli(test_db: DatabaseUnderTest, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INCIDENTDESK_")}
    env.update(
        INCIDENTDESK_DATABASE_URL=test_db.owner_url,
        INCIDENTDESK_PUBLIC_URL=PUBLIC_URL,
        INCIDENTDESK_LOG_LEVEL="warning",
    )
    return Cli(env=env, cwd=tmp_path_factory.mktemp("cli"))


def _mail_reasons(test_db: DatabaseUnderTest) -> set[str]:
    engine = create_engine(to_sync_url(test_db.owner_url), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            return {row[0] for row in connection.execute(text("SELECT reason FROM outgoing_mails"))}
    finally:
        engine.dispose()


def _count(test_db: DatabaseUnderTest, model: type[Base]) -> int:
    # The owner connection: row-level security does not narrow what it counts.
    engine = create_engine(to_sync_url(test_db.owner_url), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(model)).scalar_one())
    finally:
        engine.dispose()


def _membership_roles(test_db: DatabaseUnderTest, subject: str) -> dict[str, str]:
    engine = create_engine(to_sync_url(test_db.owner_url), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(Tenant.slug, Membership.role)
                .join(Tenant, Tenant.id == Membership.tenant_id)
                .where(Membership.subject == subject, Membership.issuer == PUBLIC_URL)
            )
            return {slug: str(role.value) for slug, role in rows}
    finally:
        engine.dispose()


def test_migrate_prints_the_current_revisions(cli: Cli, test_db: DatabaseUnderTest) -> None:
    out = cli.ok("migrate")
    engine = create_engine(to_sync_url(test_db.owner_url), poolclass=pool.NullPool)
    with engine.connect() as connection:
        current = sorted(
            row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version"))
        )
    engine.dispose()
    assert out.split() == current


def test_tenant_create_prints_the_tenant_as_json(cli: Cli) -> None:
    out = cli.ok(
        "tenant",
        "create",
        "cli-one",
        "CLI One",
        "--timezone",
        "Europe/Berlin",
        "--public-status-page",
        "--auto-close-days",
        "5",
    )
    tenant = json.loads(out)
    assert tenant["autoCloseDays"] == 5
    assert tenant["slug"] == "cli-one"
    assert tenant["name"] == "CLI One"
    assert tenant["timezone"] == "Europe/Berlin"
    assert tenant["publicStatusPage"] is True
    from api.relay import parse_id

    parsed = parse_id(tenant["id"])
    assert parsed is not None and parsed[0] == "Tenant"


def test_member_and_operator_add(cli: Cli, test_db: DatabaseUnderTest) -> None:
    member = json.loads(
        cli.ok("member", "add", "--tenant", "cli-one", "--subject", "dana", "--role", "agent")
    )
    assert member == {"tenant": "cli-one", "issuer": PUBLIC_URL, "subject": "dana", "role": "AGENT"}
    # Granting again changes the role rather than adding a second membership.
    cli.ok("member", "add", "--tenant", "cli-one", "--subject", "dana", "--role", "MANAGER")
    assert _membership_roles(test_db, "dana") == {"cli-one": "MANAGER"}

    operator = json.loads(cli.ok("operator", "add", "--subject", "ops"))
    assert operator == {"issuer": PUBLIC_URL, "subject": "ops"}
    other = json.loads(cli.ok("operator", "add", "--subject", "ops", "--issuer", "https://idp.test"))
    assert other["issuer"] == "https://idp.test"


def test_client_create_prints_credentials_that_work(cli: Cli) -> None:
    out = cli.ok(
        "client",
        "create",
        "--tenant",
        "cli-one",
        "--name",
        "Monitoring",
        "--scopes",
        "incidents:read alerts:write",
    )
    client = json.loads(out)
    assert set(client) == {"client_id", "client_secret"}
    assert client["client_id"] and client["client_secret"]


async def test_token_is_one_jwt_the_authority_accepts(cli: Cli, test_db: DatabaseUnderTest) -> None:
    before = int(time.time())
    out = cli.ok("token", "--subject", "dana", "--ttl", "600", "--scopes", "incidents:read")
    after = time.time()
    assert out.count("\n") == 1
    token = out.strip()
    assert token.count(".") == 2
    settings = Settings(public_url=PUBLIC_URL, database_url=test_db.owner_url)
    database = create_database(test_db.app_url, pool_size=1)
    authority = Authority(settings, database)
    try:
        verified = await authority.verify(token)
        principal = await authority.principal(verified)
    finally:
        await authority.aclose()
        await database.dispose()
    assert verified.issuer == PUBLIC_URL
    assert verified.subject == "dana"
    assert verified.scopes == frozenset({"incidents:read"})
    assert before + 600 <= verified.expires_at.timestamp() <= after + 600
    assert [tenant.value for tenant in principal.memberships.values()] == ["MANAGER"]


@pytest.mark.parametrize(
    "args",
    [
        ("tenant", "create", "Not A Slug", "Name"),
        ("tenant", "create", "cli-one", "Taken"),
        ("tenant", "create", "cli-tz", "Name", "--timezone", "Mars/Olympus_Mons"),
        ("tenant", "create", "cli-days", "Name", "--auto-close-days", "0"),
        ("member", "add", "--tenant", "no-such-tenant", "--subject", "x", "--role", "AGENT"),
        ("member", "add", "--tenant", "cli-one", "--subject", "x", "--role", "OWNER"),
        ("client", "create", "--tenant", "cli-one", "--name", "x", "--scopes", "root:everything"),
        ("token", "--subject", "dana", "--ttl", "-5"),
        ("token", "--subject", "stranger", "--tenant", "cli-one"),
        ("nonsense",),
    ],
    ids=[
        "slug",
        "taken",
        "timezone",
        "auto-close",
        "tenant",
        "role",
        "scope",
        "ttl",
        "not-member",
        "command",
    ],
)
def test_bad_input_exits_2_with_one_line_on_stderr(cli: Cli, args: tuple[str, ...]) -> None:
    result = cli(*args)
    assert result.code == 2, result
    assert result.out == ""
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("incidentdesk")
    assert "Traceback" not in result.err


def test_demo_is_idempotent(cli: Cli, test_db: DatabaseUnderTest) -> None:
    first = cli.ok("demo")
    tables = (Tenant, Incident, IncidentEvent, SlaContract, Bulletin, StatusSubscriber, OutgoingMail)
    counts = tuple(_count(test_db, table) for table in tables)
    assert counts[1] >= 5 and counts[2] > counts[1]
    assert counts[3] == len(DEMO_CONTRACTS)  # one contract per demo tenant
    # acme's public page: bulletins, a confirmed subscriber, and the mails they caused.
    assert counts[4] >= 2 and counts[5] == 1
    reasons = _mail_reasons(test_db)
    assert {"status.subscription_confirm", "status.bulletin_published", "status.maintenance"} <= reasons
    second = cli.ok("demo")
    assert tuple(_count(test_db, table) for table in tables) == counts
    for out in (first, second):
        for variable in ("CAROL_TOKEN", "ALICE_TOKEN", "MALLORY_TOKEN", "ROOT_TOKEN"):
            assert f"export {variable}=ey" in out
        assert f"curl -s {PUBLIC_URL}/graphql" in out
    assert _membership_roles(test_db, "alice") == {"acme": "AGENT", "globex": "AGENT", "provider": "AGENT"}
    assert _membership_roles(test_db, "carol@acme") == {"acme": "CUSTOMER"}


@pytest.fixture(scope="module")
def server(cli: Cli) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        cli.argv("serve", "--port", str(port)),
        env=cli.env,
        cwd=cli.cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"

    def serving() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"serve exited early: {process.stderr.read() if process.stderr else ''}")
        try:
            return httpx.get(f"{url}/healthz", timeout=PATIENCE).status_code == 200
        except httpx.TransportError:
            return False

    try:
        eventually(serving, "serve to answer /healthz", every=0.2)
        yield url
    finally:
        stop_process(process, PATIENCE)


def test_served_app_accepts_a_token_minted_by_the_cli(cli: Cli, server: str) -> None:
    token = cli.ok("token", "--subject", "dana", "--tenant", "cli-one").strip()
    response = httpx.post(
        f"{server}/graphql",
        json={"query": "{ viewer { subject issuer memberships { role tenant { slug } } } }"},
        headers={"authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    viewer = response.json()["data"]["viewer"]
    assert viewer["subject"] == "dana"
    assert viewer["issuer"] == PUBLIC_URL
    assert viewer["memberships"] == [{"role": "MANAGER", "tenant": {"slug": "cli-one"}}]
    assert httpx.get(f"{server}/readyz", timeout=5).json()["status"] == "ok"


def test_served_app_answers_the_demo_curl_example(cli: Cli, server: str) -> None:
    out = cli.ok("demo")
    token = next(line.split("=", 1)[1] for line in out.splitlines() if line.startswith("export ALICE_TOKEN="))
    from api.demo import INCIDENTS_QUERY

    response = httpx.post(
        f"{server}/graphql",
        json={"query": INCIDENTS_QUERY},
        headers={"authorization": f"Bearer {token}", "x-tenant": "acme"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    incidents = response.json()["data"]["incidents"]
    assert incidents["totalCount"] >= 3
    assert {edge["node"]["tenant"]["slug"] for edge in incidents["edges"]} == {"acme"}


def test_the_demo_prints_a_non_empty_work_report_and_its_csv(cli: Cli, server: str) -> None:
    out = cli.ok("demo")
    token = next(
        line.split("=", 1)[1] for line in out.splitlines() if line.startswith("export MALLORY_TOKEN=")
    )
    headers = {"authorization": f"Bearer {token}"}
    graphql_line = next(line for line in out.splitlines() if "workReport" in line)
    csv_line = next(line for line in out.splitlines() if "/reports/acme/work.csv" in line)
    body = json.loads(shlex.split(graphql_line)[-1])
    # The demo prints the current month; the work was seeded by an earlier test, maybe the month before.
    printed_from = date.fromisoformat(body["variables"]["from"])
    body["variables"]["from"] = (printed_from - timedelta(days=1)).replace(day=1).isoformat()
    response = httpx.post(f"{server}/graphql", json=body, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    report = response.json()["data"]["workReport"]
    assert report["total"]["billableMinutes"] > 0 and report["total"]["nonBillableMinutes"] > 0
    assert {row["agent"] for row in report["rows"]} == {"alice", "mallory"}
    url = shlex.split(csv_line)[-1].replace(PUBLIC_URL, server)
    url = url.replace(f"from={printed_from}", f"from={body['variables']['from']}")
    exported = httpx.get(url, headers=headers, timeout=10)
    assert exported.status_code == 200, exported.text
    records = list(csv.DictReader(io.StringIO(exported.text, newline="")))
    assert records and sum(int(r["billable_minutes"]) for r in records) == report["total"]["billableMinutes"]


def test_the_demo_mails_reach_the_maildir_that_mail_list_shows(cli: Cli, server: str) -> None:
    """Without an SMTP server the served app writes the demo's mails to the Maildir: carol's updates of
    the incidents she reported, alice's assignment, mallory's update of the incident she watches."""
    cli.ok("demo")

    def listed() -> dict[str, list[str]] | None:
        lines = [json.loads(line) for line in cli.ok("mail", "list", "--limit", "200").splitlines()]
        by_address: dict[str, list[str]] = {}
        for line in lines:
            by_address.setdefault(line["to"], []).append(line["subject"])
        wanted = ("carol@acme.example", "alice@provider.example", "mallory@provider.example")
        return by_address if all(address in by_address for address in wanted) else None

    mails = eventually(listed, "the demo's mails in the Maildir", every=0.5)
    assert any(" resolved: Invoices show the wrong VAT rate" in s for s in mails["carol@acme.example"])
    assert any(
        "assigned to you: Password reset e-mails arrive late" in s for s in mails["alice@provider.example"]
    )
    assert any("New comment: Checkout fails" in s for s in mails["mallory@provider.example"])
