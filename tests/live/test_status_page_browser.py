"""The public status page in headless Chromium: it changes live when a bulletin is published through the
API, and reconnects by itself when the server goes away and comes back."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio

from api.app import create_app
from auth import Principal
from domain.bulletins import service as bulletins
from domain.bulletins.phases import BulletinPhase
from domain.db import Database
from domain.settings import Settings
from domain.tenancy.roles import Role
from tests import factories as f
from tests.conftest import TestDatabase
from tests.live.cdp import Page, chromium
from tests.server import listening_socket, serve


@dataclass
class World:
    mail: str  # global ID of acme's Mail service
    agent: Principal
    token: str


@pytest.fixture(scope="module")
def settings(test_db: TestDatabase) -> Settings:
    return f.settings_for(test_db)


@pytest_asyncio.fixture(scope="module")
async def world(settings: Settings, db: Database) -> World:
    acme = await f.create_tenant(db, "acme", name="Acme Corp", public_status_page=True)
    await f.add_member(db, acme.id, "alice", Role.AGENT)
    manager = f.actor("mary", {acme.id: Role.MANAGER})
    mail = await f.create_service(db, manager, acme.id, "Mail")
    await f.create_service(db, manager, acme.id, "Web")
    token = await f.mint_token(settings, db, "alice")
    return World(f.encode_id("Service", mail.id), f.actor("alice", {acme.id: Role.AGENT}), token)


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
