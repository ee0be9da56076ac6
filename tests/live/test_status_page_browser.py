"""The public status page in headless Chromium: its uptime bars and history, a screenshot kept as a test
artefact (in ``.incidentdesk/artifacts/``, or ``$INCIDENTDESK_ARTIFACTS``); it changes live when a
bulletin is published through the API, and reconnects by itself when the server goes away and comes
back."""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
import pytest_asyncio

from api.app import create_app
from auth import Principal
from domain.bulletins import service as bulletins
from domain.bulletins.phases import BulletinKind, BulletinPhase, ServiceStatus
from domain.db import Database
from domain.settings import Settings
from domain.tenancy.roles import Role
from tests import factories as f
from tests.conftest import TestDatabase
from tests.live.cdp import Page, chromium
from tests.live.status_history import write_history
from tests.server import listening_socket, serve

ARTIFACTS = Path(
    os.environ.get("INCIDENTDESK_ARTIFACTS", Path(__file__).resolve().parents[2] / ".incidentdesk/artifacts")
)
ZONE = ZoneInfo("America/New_York")


@dataclass
class World:
    mail: str  # global ID of acme's Mail service
    agent: Principal
    token: str
    outage_day: str  # the local day of Mail's two hours of partial outage, a week ago


@pytest.fixture(scope="module")
def settings(test_db: TestDatabase) -> Settings:
    return f.settings_for(test_db)


@pytest_asyncio.fixture(scope="module")
async def world(settings: Settings, db: Database) -> World:
    acme = await f.create_tenant(
        db, "acme", name="Acme Corp", timezone="America/New_York", public_status_page=True
    )
    await f.add_member(db, acme.id, "alice", Role.AGENT)
    manager = f.actor("mary", {acme.id: Role.MANAGER})
    agent = f.actor("alice", {acme.id: Role.AGENT})
    mail = await f.create_service(db, manager, acme.id, "Mail")
    await f.create_service(db, manager, acme.id, "Web")
    # Mail has two months of history: two hours of partial outage a week ago.
    week_ago = datetime.now(ZONE).date() - timedelta(days=7)
    await write_history(
        db,
        acme.id,
        mail.id,
        created_at=datetime.now(UTC) - timedelta(days=60),
        changes=[
            (datetime.combine(week_ago, time(14), ZONE), ServiceStatus.PARTIAL_OUTAGE),
            (datetime.combine(week_ago, time(16), ZONE), ServiceStatus.OPERATIONAL),
        ],
    )
    # An incident of the last days, resolved since: the page's history.
    [past] = await bulletins.create_bulletin(
        db,
        agent,
        bulletins.NewBulletin(
            tenant_ids=[acme.id],
            kind=BulletinKind.INCIDENT,
            title="Login errors",
            body="Some sign-ins fail.",
            phase=BulletinPhase.IDENTIFIED,
            publish=True,
        ),
    )
    await bulletins.post_bulletin_update(
        db, agent, bulletins.NewUpdate(past.id, BulletinPhase.RESOLVED, "Sign-ins work again.")
    )
    token = await f.mint_token(settings, db, "alice")
    return World(f.encode_id("Service", mail.id), agent, token, week_ago.isoformat())


class Server:
    """The real app on a fixed loopback port, which the test may stop and start again."""

    def __init__(self, test_db: TestDatabase, settings: Settings) -> None:
        self.test_db = test_db
        self.settings = settings
        self.socket: socket.socket | None = listening_socket()
        self.port = self.socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stack: ExitStack | None = None

    def start(self) -> None:
        # The first start serves the socket chosen above; a restart binds the same port again.
        sock, self.socket = self.socket or listening_socket(self.port), None
        self._stack = ExitStack()
        self._stack.enter_context(serve(create_app(self.settings, database_url=self.test_db.app_url), sock))

    def stop(self) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None


@pytest.fixture(scope="module")
def server(test_db: TestDatabase, settings: Settings, world: World) -> Iterator[Server]:
    server = Server(test_db, settings)
    server.start()
    yield server
    server.stop()


@pytest_asyncio.fixture(scope="module")
async def page(server: Server) -> AsyncIterator[Page]:
    async with chromium() as page:
        await page.navigate(f"{server.url}/status/acme")
        await page.wait_for("document.body && document.body.dataset.live === 'connected'")
        yield page


def mail_status(world: World) -> str:
    selector = json.dumps(f"[data-service-id='{world.mail}'] .status")
    return f"document.querySelector({selector})?.dataset.status"


async def test_the_page_is_small_accessible_and_live(page: Page, world: World) -> None:
    assert await page.evaluate("document.documentElement.lang") == "en"
    assert await page.evaluate("document.querySelector('h1').textContent") == "Acme Corp status"
    assert await page.evaluate("document.querySelector('[aria-live]') !== null")
    assert await page.evaluate(
        "[...document.querySelectorAll('#services .name')].map(e => e.textContent)"
    ) == [
        "Mail",
        "Web",
    ]
    assert await page.evaluate(mail_status(world)) == "OPERATIONAL"
    assert await page.evaluate("document.getElementById('overall').textContent") == "All systems operational"


def bars(world: World) -> str:
    selector = json.dumps(f"[data-service-id='{world.mail}'] .day")
    return f"[...document.querySelectorAll({selector})]"


async def test_the_page_shows_uptime_bars_and_history_and_is_kept_as_a_screenshot(
    page: Page, world: World
) -> None:
    assert await page.evaluate(
        "[...document.querySelectorAll('#services .bars')].map(b => b.children.length)"
    ) == [
        90,
        90,
    ]
    day = f"{bars(world)}.find(d => d.dataset.day === {json.dumps(world.outage_day)})"
    assert await page.evaluate(f"{day}.dataset.status") == "PARTIAL_OUTAGE"
    assert "Partial outage: 120 min" in await page.evaluate(f"{day}.title")
    # The bar is drawn in the outage's colour, not merely marked.
    colour = await page.evaluate(f"getComputedStyle({day}).backgroundColor")
    operational = await page.evaluate(f"getComputedStyle({bars(world)}.at(-2)).backgroundColor")
    assert colour != operational and colour == "rgb(232, 102, 28)"
    assert await page.evaluate(f"{bars(world)}[0].dataset.status") == "NO_DATA"  # before Mail existed
    percent = json.dumps(f"[data-service-id='{world.mail}'] .percent")
    figure = await page.evaluate(f"document.querySelector({percent}).textContent")
    assert figure.startswith("99.") and figure.endswith("%")
    history = await page.evaluate("document.getElementById('history').textContent")
    assert "Login errors" in history and "Sign-ins work again." in history
    shot = await page.screenshot(ARTIFACTS / "status-page.png")
    assert shot.read_bytes().startswith(b"\x89PNG")


CREATE = """mutation($input: CreateBulletinInput!) {
  createBulletin(input: $input) { bulletins { id } userErrors { message } }
}"""


async def test_publishing_a_bulletin_changes_the_page_live(server: Server, page: Page, world: World) -> None:
    title = f"Mail outage {uuid.uuid4().hex[:6]}"
    async with httpx.AsyncClient(base_url=server.url) as client:
        response = await client.post(
            "/graphql",
            json={
                "query": CREATE,
                "variables": {
                    "input": {
                        "kind": "INCIDENT",
                        "title": title,
                        "body": "Mail is not delivered.",
                        "phase": "INVESTIGATING",
                        "publish": True,
                        "affectedServices": [{"serviceId": world.mail, "status": "MAJOR_OUTAGE"}],
                    }
                },
            },
            headers={"authorization": f"Bearer {world.token}"},
        )
    assert response.json()["data"]["createBulletin"]["userErrors"] == []
    # No reload: the page changes by itself, from the live subscription it holds.
    await page.wait_for(
        f"{mail_status(world)} === 'MAJOR_OUTAGE'"
        f" && document.getElementById('notices').textContent.includes({json.dumps(title)})"
    )
    assert await page.evaluate("document.getElementById('overall').dataset.status") == "MAJOR_OUTAGE"
    assert await page.evaluate("document.getElementById('overall').textContent") == "Major outage"
    # The live change kept the server's uptime bars.
    assert await page.evaluate(f"{bars(world)}.length") == 90


async def test_the_page_reconnects_by_itself_and_catches_up(
    db: Database, server: Server, page: Page, world: World
) -> None:
    server.stop()
    await page.wait_for("document.body.dataset.live === 'reconnecting'")
    # While the page is cut off, the outage ends.
    rows = await bulletins.create_bulletin(
        db,
        world.agent,
        bulletins.NewBulletin(
            tenant_ids=list(world.agent.tenant_ids),
            kind=bulletins.BulletinKind.INFORMATION,
            title="Back to normal soon",
            body="Recovery under way.",
            phase=BulletinPhase.IN_PROGRESS,
            publish=True,
        ),
    )
    assert rows
    server.start()
    await page.wait_for("document.body.dataset.live === 'connected'")
    await page.wait_for("document.getElementById('notices').textContent.includes('Back to normal soon')")
