"""Live groups (``api/graphql/broadcast.py``): subscribers who see events alike share one feed and one
render, and are each written the same bytes; one that cannot keep up leaves its group and goes on alone
from what it was sent, missing nothing, while the others are not held up. Over real sockets."""

from __future__ import annotations

import itertools
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
from websockets.asyncio.client import connect

from api.graphql.broadcast import groups_of
from api.relay import encode_cursor
from domain.bulletins import service as bulletins
from domain.bulletins.phases import BulletinKind, BulletinPhase, ServiceStatus
from domain.db import Database
from domain.incidents import service as incidents
from domain.incidents.enums import Visibility
from domain.outbox.store import high_water_marks
from domain.settings import Settings
from domain.tenancy.roles import Role
from tests import factories as f
from tests.conftest import TestDatabase
from tests.live.ws import LEGACY, TRANSPORT, Socket, ws_url
from tests.server import listening_socket
from tests.waiting import PATIENCE, eventually_async

# A member whose socket holds more than this many unsent messages goes on alone.
CAPACITY = 4

EVENTS = """subscription {
  incidentEvents { id cursor kind message incident { number title } }
}"""


@pytest.fixture(scope="module")
def settings(test_db: TestDatabase) -> Settings:
    return f.settings_for(test_db, live_feed_capacity=CAPACITY)


@pytest_asyncio.fixture(scope="module")
async def world(settings: Settings, db: Database) -> dict[str, Any]:
    tenant = await f.create_tenant(db, "grouped")
    names = ["agent", *(f"customer-{n}" for n in range(5))]
    await f.add_member(db, tenant.id, "agent", Role.AGENT)
    for name in names[1:]:
        await f.add_member(db, tenant.id, name, Role.CUSTOMER)
    agent = f.actor("agent", {tenant.id: Role.AGENT})
    incident = await f.report(db, agent, tenant.id, "Printers on fire")
    paged = await f.create_tenant(db, "paged", public_status_page=True)
    await f.add_member(db, paged.id, "agent", Role.AGENT)
    manager = f.actor("agent", {paged.id: Role.MANAGER})
    service = await f.create_service(db, manager, paged.id, "Printing")
    return {
        "tenant": tenant.id,
        "paged": paged.id,
        "paged agent": f.actor("agent", {paged.id: Role.AGENT}),
        "service": service.id,
        "agent": agent,
        "incident": incident.id,
        "tokens": await f.mint_tokens(settings, db, *names),
    }


@pytest.fixture(scope="module")
def live(test_db: TestDatabase, settings: Settings, world: dict[str, Any]) -> Iterator[f.LiveApp]:
    # Small kernel send buffers (inherited by accepted sockets): a client that stops reading holds the
    # server's writes back after a few messages rather than a few megabytes.
    sock = listening_socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
    with f.app_server(test_db, settings, sock=sock) as served:
        yield served


async def _comment(db: Database, world: dict[str, Any], body: str) -> None:
    await incidents.add_comment(
        db, world["agent"], incident_id=world["incident"], body=body, visibility=Visibility.PUBLIC
    )


async def _caught_up(live: f.LiveApp, db: Database) -> bool:
    hub = live.app.state.hub
    committed = await high_water_marks(db)
    return all(hub.marks.get(tenant, 0) >= seq for tenant, seq in committed.items())


def _members(live: f.LiveApp) -> list[int]:
    return sorted(len(group.members) for group in list(groups_of(live.app.state.hub).values()))


async def _subscribe(live: f.LiveApp, db: Database, subscriber: Socket, members: list[int]) -> None:
    """Subscribe once the hub has caught up, then wait until the group has the member."""
    await eventually_async(lambda: _caught_up(live, db), "the hub caught up with the commits")
    await subscriber.subscribe("1", EVENTS)
    await eventually_async(lambda: _members(live) == members, f"groups of {members}")


async def test_subscribers_who_see_alike_share_a_group_one_render_and_the_same_bytes(
    db: Database, live: f.LiveApp, world: dict[str, Any]
) -> None:
    customers = []
    for n in range(5):
        customer = await Socket.connected(
            live.url, world["tokens"][f"customer-{n}"], TRANSPORT if n % 2 else LEGACY
        )
        await _subscribe(live, db, customer, [n + 1])
        customers.append(customer)
    agent = await Socket.connected(live.url, world["tokens"]["agent"])
    await _subscribe(live, db, agent, [1, 5])  # an AGENT sees otherwise: a group of its own
    assert live.app.state.hub.subscriber_count() == 6
    renders = sum(group.renders for group in groups_of(live.app.state.hub).values())

    await _comment(db, world, "once for all")
    answers = [(await customer.next("1"))["incidentEvents"] for customer in customers]
    assert all(answer == answers[0] for answer in answers)
    assert answers[0]["message"] == "once for all" and answers[0]["incident"]["title"] == "Printers on fire"
    assert (await agent.next("1"))["incidentEvents"]["id"] == answers[0]["id"]
    assert sum(group.renders for group in groups_of(live.app.state.hub).values()) == renders + 2

    for subscriber in [*customers, agent]:
        await subscriber.close()
    await eventually_async(lambda: _members(live) == [], "every group gone with its members")
    assert live.app.state.hub.subscriber_count() == 0


async def test_a_member_that_cannot_keep_up_goes_on_alone_and_misses_nothing(
    db: Database, live: f.LiveApp, world: dict[str, Any]
) -> None:
    fast = await Socket.connected(live.url, world["tokens"]["customer-0"])
    await _subscribe(live, db, fast, [1])
    # A client that stops reading: a tiny receive buffer, and at most one message taken off it.
    host, port = urlsplit(live.url).hostname, urlsplit(live.url).port
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect((host, port))
    connection = await connect(
        ws_url(live.url),
        sock=raw,
        subprotocols=[TRANSPORT],
        max_queue=1,
        open_timeout=PATIENCE,  # type: ignore[list-item]
    )
    slow = Socket(connection, TRANSPORT)
    await slow.init({"authorization": f"Bearer {world['tokens']['customer-1']}"})
    assert (await slow.receive())["type"] == "connection_ack"
    first = max((await high_water_marks(db)).values())
    await _subscribe(live, db, slow, [2])

    # Big comments until the slow member's socket has held more than CAPACITY messages back: it leaves
    # the group (which keeps the fast one) but stays subscribed. The fast one reads every comment.
    body = "x" * 19_000
    sent = 0
    while _members(live) == [2]:
        assert sent < 500, "the slow member never fell behind"
        await _comment(db, world, f"{sent} {body}")
        assert (await fast.next("1"))["incidentEvents"]["message"].startswith(f"{sent} ")
        sent += 1
    assert _members(live) == [1] and live.app.state.hub.subscriber_count() == 2
    for n in range(sent, sent + 3):  # the group goes on for the others
        await _comment(db, world, f"{n} {body}")
        assert (await fast.next("1"))["incidentEvents"]["message"].startswith(f"{n} ")
    total = sent + 3

    # The slow one reads at last: every comment, in order, once, from the buffer and then the database.
    cursors = []
    while len(cursors) < total:
        event = (await slow.next("1"))["incidentEvents"]
        cursors.append(event["cursor"])
        assert event["message"].startswith(f"{len(cursors) - 1} "), (len(cursors), event["message"][:10])
    assert cursors == [encode_cursor([seq]) for seq in range(first + 1, first + total + 1)]
    await slow.nothing_more()
    for subscriber in (fast, slow):
        await subscriber.close()


async def test_a_subscription_from_a_cursor_has_a_feed_of_its_own(
    db: Database, live: f.LiveApp, world: dict[str, Any]
) -> None:
    before = max((await high_water_marks(db)).values())
    await _comment(db, world, "before the cursor")
    subscriber = await Socket.connected(live.url, world["tokens"]["customer-2"])
    await subscriber.send(
        {
            "id": "1",
            "type": "subscribe",
            "payload": {
                "query": EVENTS.replace("incidentEvents {", "incidentEvents(after: $after) {").replace(
                    "subscription {", "subscription($after: String) {"
                ),
                "variables": {"after": encode_cursor([before])},
            },
        }
    )
    assert (await subscriber.next("1"))["incidentEvents"]["message"] == "before the cursor"
    assert _members(live) == []  # replayed and followed by a feed of its own, in no group
    await subscriber.close()


PUBLIC = """subscription($slug: String!) {
  publicStatusChanged(tenantSlug: $slug) { overall services { name status } activeBulletins { title phase } }
}"""


async def _outage(db: Database, world: dict[str, Any], title: str) -> Any:
    """A published bulletin putting the page's service in a partial outage: two events (the bulletin and
    the status change), committed together."""
    [row] = await bulletins.create_bulletin(
        db,
        world["paged agent"],
        bulletins.NewBulletin(
            tenant_ids=[world["paged"]],
            kind=BulletinKind.INCIDENT,
            title=title,
            body="Looking into it.",
            phase=BulletinPhase.INVESTIGATING,
            affected=[bulletins.Affected(world["service"], ServiceStatus.PARTIAL_OUTAGE)],
            publish=True,
        ),
    )
    return row


async def _resolve(db: Database, world: dict[str, Any], row: Any) -> None:
    await bulletins.post_bulletin_update(
        db, world["paged agent"], bulletins.NewUpdate(row.id, BulletinPhase.RESOLVED, "Over.")
    )


async def test_viewers_of_a_public_page_share_a_group_and_are_sent_each_page_once(
    db: Database, live: f.LiveApp, world: dict[str, Any]
) -> None:
    viewers = []
    for n in range(4):
        viewer = await Socket.connected(live.url, None, TRANSPORT if n % 2 else LEGACY)
        await eventually_async(lambda: _caught_up(live, db), "the hub caught up with the commits")
        await viewer.subscribe("1", PUBLIC, {"slug": "paged"})
        page = (await viewer.next("1"))["publicStatusChanged"]  # the page as it is, first
        assert page["overall"] == "OPERATIONAL" and page["activeBulletins"] == []
        await eventually_async(lambda n=n: _members(live) == [n + 1], f"a group of {n + 1}")
        viewers.append(viewer)
    hub = live.app.state.hub
    [group] = groups_of(hub).values()
    renders = group.renders

    row = await _outage(db, world, "Printing slow")
    pages = [(await viewer.next("1"))["publicStatusChanged"] for viewer in viewers]
    assert all(page == pages[0] for page in pages)
    assert pages[0]["overall"] == "PARTIAL_OUTAGE"
    assert pages[0]["activeBulletins"] == [{"title": "Printing slow", "phase": "INVESTIGATING"}]
    # Both events were rendered once for the group, whatever the number of viewers; the page made for the
    # second shows what the first already showed, so no viewer is sent it again.
    await eventually_async(lambda: _caught_up(live, db), "the hub caught up with the commits")
    await eventually_async(lambda: group.renders >= renders + 1, "the group rendered the change")
    for viewer in viewers:
        await viewer.nothing_more()
    assert group.renders <= renders + 2

    await _resolve(db, world, row)
    for viewer in viewers:
        page = (await viewer.next("1"))["publicStatusChanged"]
        assert page["overall"] == "OPERATIONAL" and page["activeBulletins"] == []
        await viewer.close()
    await eventually_async(lambda: _members(live) == [], "the group gone with its viewers")


async def test_a_viewer_joining_while_the_page_changes_gets_its_page_first_and_each_change_once(
    db: Database, live: f.LiveApp, world: dict[str, Any]
) -> None:
    """Changes committed while a viewer subscribes wait behind its first page: it is sent the page,
    then only pages that differ from the last one it was sent."""
    watching = await Socket.connected(live.url, None)
    await watching.subscribe("1", PUBLIC, {"slug": "paged"})
    await watching.next("1")
    await eventually_async(lambda: _members(live) == [1], "a group of one")
    joining = await Socket.connected(live.url, None, LEGACY)
    rows = []
    await joining.subscribe("1", PUBLIC, {"slug": "paged"})
    for n in range(3):
        rows.append(await _outage(db, world, f"Wave {n}"))
    last = [{"title": f"Wave {n}", "phase": "INVESTIGATING"} for n in (2, 1, 0)]  # newest first
    await eventually_async(lambda: _caught_up(live, db), "the hub caught up with the commits")
    seen = []
    while not seen or seen[-1]["activeBulletins"] != last:
        seen.append((await joining.next("1"))["publicStatusChanged"])
    await joining.nothing_more()
    assert all(a != b for a, b in itertools.pairwise(seen)), seen  # never the same page twice
    assert [len(page["activeBulletins"]) for page in seen] == sorted(
        {len(p["activeBulletins"]) for p in seen}
    )
    for row in rows:
        await _resolve(db, world, row)
    while (await joining.next("1"))["publicStatusChanged"]["activeBulletins"]:
        pass
    for viewer in (watching, joining):
        await viewer.close()
    await eventually_async(lambda: _members(live) == [], "the group gone with its viewers")


async def test_a_page_switched_off_completes_its_viewers_subscriptions(
    db: Database, test_db: TestDatabase, live: f.LiveApp, world: dict[str, Any]
) -> None:
    viewers = [await Socket.connected(live.url, None, protocol) for protocol in (TRANSPORT, LEGACY)]
    for n, viewer in enumerate(viewers):
        await viewer.subscribe("1", PUBLIC, {"slug": "paged"})
        await viewer.next("1")
        await eventually_async(lambda n=n: _members(live) == [n + 1], f"a group of {n + 1}")
    f.owner_sql(test_db, "UPDATE tenants SET public_status_page = false WHERE slug = 'paged'")
    try:
        row = await _outage(db, world, "Nobody sees this")  # the next change finds the page gone
        for viewer in viewers:
            assert (await viewer.receive()) == {"id": "1", "type": "complete"}
        await eventually_async(lambda: _members(live) == [], "the group gone")
        await _resolve(db, world, row)
    finally:
        f.owner_sql(test_db, "UPDATE tenants SET public_status_page = true WHERE slug = 'paged'")
    for viewer in viewers:
        await viewer.close()
