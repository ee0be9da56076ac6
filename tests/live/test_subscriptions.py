"""Subscriptions over real WebSockets against a real uvicorn, in both subprotocols."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import func, select

from api.graphql.broadcast import groups_of
from api.graphql.shared_render import RENDERS
from api.relay import encode_cursor, encode_id
from auth import Principal
from domain.bulletins import service as bulletins
from domain.bulletins.phases import BulletinKind, BulletinPhase, ServiceStatus
from domain.bulletins.public import public_tenant, public_view
from domain.db import Database, Scope
from domain.incidents import service as incidents
from domain.incidents.enums import Visibility
from domain.incidents.models import IncidentEvent
from domain.outbox.store import high_water_marks
from domain.settings import Settings
from domain.tenancy.roles import Role
from tests import factories as f
from tests.conftest import TestDatabase
from tests.live.ws import LEGACY, TRANSPORT, Socket, errors_of
from tests.waiting import eventually_async

BOTH = pytest.mark.parametrize("protocol", [TRANSPORT, LEGACY])


@dataclass
class World:
    acme: uuid.UUID
    globex: uuid.UUID
    alice: Principal  # AGENT of acme and globex
    carol: Principal  # CUSTOMER of acme
    incident: uuid.UUID  # acme's, reported by carol
    service: uuid.UUID  # acme's
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def settings(test_db: TestDatabase) -> Settings:
    return f.settings_for(test_db)


@pytest_asyncio.fixture(scope="module")
async def world(settings: Settings, db: Database) -> World:
    acme = await f.create_tenant(db, "acme", name="Acme", public_status_page=True)
    globex = await f.create_tenant(db, "globex")
    await f.add_member(db, acme.id, "alice", Role.AGENT)
    await f.add_member(db, globex.id, "alice", Role.AGENT)
    await f.add_member(db, acme.id, "carol", Role.CUSTOMER)
    alice = f.actor("alice", {acme.id: Role.AGENT, globex.id: Role.AGENT})
    carol = f.actor("carol", {acme.id: Role.CUSTOMER})
    manager = f.actor("mary", {acme.id: Role.MANAGER})
    service = await f.create_service(db, manager, acme.id, "Mail")
    incident = await f.report(db, carol, acme.id, "Mail is slow")
    tokens = await f.mint_tokens(settings, db, "alice", "carol")
    return World(acme.id, globex.id, alice, carol, incident.id, service.id, tokens)


@pytest.fixture(scope="module")
def live(test_db: TestDatabase, settings: Settings, world: World, db: Database) -> Iterator[f.LiveApp]:
    with f.app_server(test_db, settings) as live:
        HUBS.append((live.app.state.hub, db))
        yield live


EVENTS = """subscription($tenant: ID, $incident: ID, $after: String) {
  incidentEvents(tenant: $tenant, incidentId: $incident, after: $after) {
    id cursor kind visibility actor message incident { number version }
  }
}"""


async def comment(
    db: Database, world: World, body: str, visibility: Visibility = Visibility.PUBLIC
) -> IncidentEvent:
    return await incidents.add_comment(
        db, world.alice, incident_id=world.incident, body=body, visibility=visibility
    )


async def stored_cursors(db: Database, tenant: uuid.UUID, after: int) -> list[str]:
    async with db.transaction(Scope.of([tenant])) as session:
        seqs = await session.scalars(
            select(IncidentEvent.seq)
            .where(IncidentEvent.tenant_id == tenant, IncidentEvent.seq > after)
            .order_by(IncidentEvent.seq)
        )
        return [encode_cursor([s]) for s in seqs]


# The served app's hub (and the test's own pool), so that a test can see a subscription's feed open (the
# protocols do not say).
HUBS: list[tuple[Any, Database]] = []


async def subscribed(socket: Socket, op_id: str, query: str, variables: dict[str, Any]) -> None:
    """Subscribe, then wait until the server has opened the feed, so nothing committed next is missed.

    A feed starts where the server's hub has got to, so the hub is first let catch up with everything
    already committed: a feed opened while it lags would rightly also deliver the older events."""
    hub, db = HUBS[-1]
    await eventually_async(lambda: _caught_up(hub, db), "the hub caught up with the commits")
    before = hub.subscriber_count()
    await socket.subscribe(op_id, query, variables)
    await eventually_async(lambda: hub.subscriber_count() > before, "the subscription's feed opened")


async def _caught_up(hub: Any, db: Database) -> bool:
    committed = await high_water_marks(db)
    return all(hub.marks.get(tenant, 0) >= seq for tenant, seq in committed.items())


# ---------------------------------------------------------------- incident events


@BOTH
async def test_an_agent_receives_incident_events_as_they_commit(
    db: Database, live: f.LiveApp, world: World, protocol: str
) -> None:
    socket = await Socket.connected(live.url, world.tokens["alice"], protocol)
    await subscribed(socket, "1", EVENTS, {"tenant": "acme"})
    event = await comment(db, world, f"over {protocol}")
    data = (await socket.next("1"))["incidentEvents"]
    assert data["kind"] == "COMMENTED" and data["message"] == f"over {protocol}" and data["actor"] == "alice"
    assert data["cursor"] == encode_cursor([event.seq])
    await socket.close()


async def test_a_customer_never_receives_internal_events(db: Database, live: f.LiveApp, world: World) -> None:
    customer = await Socket.connected(live.url, world.tokens["carol"])
    agent = await Socket.connected(live.url, world.tokens["alice"], LEGACY)
    await subscribed(customer, "c", EVENTS, {})
    await subscribed(agent, "a", EVENTS, {"tenant": "acme"})
    await comment(db, world, "internal note", Visibility.INTERNAL)
    await comment(db, world, "public reply")
    assert (await customer.next("c"))["incidentEvents"]["message"] == "public reply"
    await customer.nothing_more()
    assert [(await agent.next("a"))["incidentEvents"]["visibility"] for _ in range(2)] == [
        "INTERNAL",
        "PUBLIC",
    ]
    # Replays obey the same rule.
    await customer.close()
    customer = await Socket.connected(live.url, world.tokens["carol"])
    event = (await _first_cursor(db, world)) or 0
    await subscribed(customer, "r", EVENTS, {"after": encode_cursor([event])})
    public = await _public_events_after(db, world, event)
    assert public > 0
    replayed = [(await customer.next("r"))["incidentEvents"]["visibility"] for _ in range(public)]
    assert set(replayed) == {"PUBLIC"}
    await customer.nothing_more()
    await customer.close()
    await agent.close()


async def _first_cursor(db: Database, world: World) -> int:
    async with db.transaction(Scope.of([world.acme])) as session:
        return int(
            await session.scalar(
                select(IncidentEvent.seq)
                .where(IncidentEvent.tenant_id == world.acme)
                .order_by(IncidentEvent.seq)
            )
            or 0
        )


async def _public_events_after(db: Database, world: World, seq: int) -> int:
    async with db.transaction(Scope.of([world.acme])) as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(IncidentEvent)
                .where(
                    IncidentEvent.tenant_id == world.acme,
                    IncidentEvent.seq > seq,
                    IncidentEvent.visibility == Visibility.PUBLIC,
                )
            )
            or 0
        )


@BOTH
async def test_after_replays_then_streams_with_no_gap_or_duplicate_while_events_commit(
    db: Database, live: f.LiveApp, world: World, protocol: str
) -> None:
    cursor = (await comment(db, world, "the cursor")).seq
    for i in range(15):
        await comment(db, world, f"stored {i}")

    async def writer() -> None:
        for i in range(25):
            await comment(db, world, f"racing {i}")

    socket = await Socket.connected(live.url, world.tokens["alice"], protocol)
    writing = asyncio.create_task(writer())
    await asyncio.sleep(0.02)
    await socket.subscribe("1", EVENTS, {"tenant": "acme", "after": encode_cursor([cursor])})
    await writing
    expected = await stored_cursors(db, world.acme, cursor)
    got = [(await socket.next("1"))["incidentEvents"]["cursor"] for _ in expected]
    assert got == expected
    await socket.nothing_more()
    await socket.close()


async def test_each_event_is_resolved_with_fresh_loaders(db: Database, live: f.LiveApp, world: World) -> None:
    socket = await Socket.connected(live.url, world.tokens["alice"])
    await subscribed(socket, "1", EVENTS, {"incident": f.encode_id("Incident", world.incident)})
    await comment(db, world, "one")
    first = (await socket.next("1"))["incidentEvents"]["incident"]["version"]
    await comment(db, world, "two")
    second = (await socket.next("1"))["incidentEvents"]["incident"]["version"]
    assert second > first
    await socket.close()


async def test_an_incident_filter_streams_that_incident_only(
    db: Database, live: f.LiveApp, world: World
) -> None:
    other = await f.report(db, world.carol, world.acme, "Another one")
    socket = await Socket.connected(live.url, world.tokens["carol"])
    await subscribed(socket, "1", EVENTS, {"incident": f.encode_id("Incident", other.id)})
    await comment(db, world, "not this incident")
    await incidents.add_comment(
        db, world.alice, incident_id=other.id, body="this one", visibility=Visibility.PUBLIC
    )
    assert (await socket.next("1"))["incidentEvents"]["message"] == "this one"
    await socket.nothing_more()
    await socket.close()


@pytest.mark.parametrize(
    ("variables", "code"),
    [
        ({"after": encode_cursor([1])}, "BAD_USER_INPUT"),  # alice has two tenants
        ({"tenant": "acme", "after": "not a cursor"}, "BAD_USER_INPUT"),
        ({"tenant": "no-such-tenant"}, "NOT_FOUND"),
        ({"incident": f.encode_id("Incident", uuid.uuid4())}, "NOT_FOUND"),
    ],
)
async def test_bad_arguments_end_the_subscription_with_an_error(
    live: f.LiveApp, world: World, variables: dict[str, Any], code: str
) -> None:
    socket = await Socket.connected(live.url, world.tokens["alice"])
    await socket.subscribe("1", EVENTS, variables)
    [error] = errors_of(await socket.receive())
    assert error["extensions"]["code"] == code
    await socket.close()


# ---------------------------------------------------------------- authentication


@BOTH
async def test_an_invalid_token_is_refused_by_the_protocol(live: f.LiveApp, protocol: str) -> None:
    socket = await Socket.open(live.url, protocol)
    await socket.init({"authorization": "Bearer not.a.token"})
    if protocol == TRANSPORT:
        assert await socket.close_code() == 4403
    else:
        assert (await socket.receive())["type"] == "connection_error"
        assert await socket.close_code() is not None


@BOTH
async def test_without_a_token_only_the_public_status_may_run(live: f.LiveApp, protocol: str) -> None:
    socket = await Socket.connected(live.url, None, protocol)
    await socket.subscribe("1", EVENTS, {})
    assert await socket.close_code() == 4401


@BOTH
async def test_an_operation_before_connection_init_never_runs(
    db: Database, live: f.LiveApp, world: World, protocol: str
) -> None:
    socket = await Socket.open(live.url, protocol)
    await socket.subscribe("1", EVENTS, {})
    await comment(db, world, "must not leak")
    assert await socket.close_code() == 4401


@BOTH
async def test_a_connection_closes_when_its_token_expires(
    settings: Settings, db: Database, live: f.LiveApp, world: World, protocol: str
) -> None:
    # Long enough to connect on a busy machine; the close then comes from the expiry, whenever it falls.
    token = await f.mint_token(settings, db, "alice", ttl_seconds=5)
    socket = await Socket.connected(live.url, token, protocol)
    await subscribed(socket, "1", EVENTS, {"tenant": "acme"})
    code = None
    while code is None:
        try:
            message = await socket.receive()
        except Exception as closed:  # the close arrives as the end of the stream
            code = getattr(getattr(closed, "rcvd", None), "code", None)
            break
        assert message["type"] == "complete", message  # the legacy protocol completes its operations first
    assert code == 4403


@BOTH
async def test_a_member_downgraded_while_connected_is_disconnected_and_no_one_else(
    settings: Settings, db: Database, live: f.LiveApp, world: World, protocol: str
) -> None:
    # An AGENT subscribed to every event of acme (internal ones included) becomes a CUSTOMER: the open
    # connection must not go on with the rights she no longer has. carol's rights did not change.
    subject = f"dora-{protocol}"
    await f.add_member(db, world.acme, subject, Role.AGENT)
    dora = await Socket.connected(live.url, await f.mint_token(settings, db, subject), protocol)
    await subscribed(dora, "1", EVENTS, {"tenant": "acme"})
    carol = await Socket.connected(live.url, world.tokens["carol"], protocol)
    await subscribed(carol, "1", EVENTS, {})
    await f.add_member(db, world.acme, subject, Role.CUSTOMER)
    assert await dora.close_reason() == (4403, "Forbidden: access changed")
    await comment(db, world, f"after the downgrade {protocol}")
    assert (await carol.next("1"))["incidentEvents"]["message"] == f"after the downgrade {protocol}"
    await carol.close()


async def test_a_subscription_follows_only_the_services_it_names(
    db: Database, live: f.LiveApp, world: World
) -> None:
    manager = f.actor("mary", {world.acme: Role.MANAGER})
    web = await f.create_service(db, manager, world.acme, f"Web {uuid.uuid4().hex[:6]}")
    on_web = await f.report(db, world.alice, world.acme, "Web is slow", service_id=web.id)
    on_mail = await f.report(db, world.alice, world.acme, "Mail bounces", service_id=world.service)
    socket = await Socket.connected(live.url, world.tokens["alice"])
    query = "subscription($s: [ID!]) { incidentEvents(services: $s) { message incident { title } } }"
    await subscribed(socket, "1", query, {"s": [encode_id("Service", world.service)]})
    await incidents.add_comment(
        db, world.alice, incident_id=on_web.id, body="about the web", visibility=Visibility.PUBLIC
    )
    await incidents.add_comment(
        db, world.alice, incident_id=on_mail.id, body="about the mail", visibility=Visibility.PUBLIC
    )
    data = (await socket.next("1"))["incidentEvents"]
    assert data == {"message": "about the mail", "incident": {"title": "Mail bounces"}}
    await socket.subscribe("2", query, {"s": [encode_id("Incident", on_web.id)]})
    [error] = errors_of(await socket.receive())
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    await socket.close()


# ---------------------------------------------------------------- bulletins and service status


BULLETINS = 'subscription { bulletinChanged(tenant: "acme") { title published phase } }'
STATUSES = "subscription { serviceStatusChanged { service { id name status } status at } }"


async def _bulletin(
    db: Database,
    world: World,
    title: str,
    *,
    publish: bool,
    status: ServiceStatus | None = None,
    service: uuid.UUID | None = None,
) -> Any:
    affected = [bulletins.Affected(service or world.service, status)] if status else []
    [row] = await bulletins.create_bulletin(
        db,
        world.alice,
        bulletins.NewBulletin(
            tenant_ids=[world.acme],
            kind=BulletinKind.INCIDENT,
            title=title,
            body="Looking into it.",
            phase=BulletinPhase.INVESTIGATING,
            affected=affected,
            publish=publish,
        ),
    )
    return row


async def test_bulletin_changes_reach_staff_and_published_ones_reach_customers(
    db: Database, live: f.LiveApp, world: World
) -> None:
    agent = await Socket.connected(live.url, world.tokens["alice"])
    customer = await Socket.connected(live.url, world.tokens["carol"], LEGACY)
    await subscribed(agent, "a", BULLETINS, {})
    await subscribed(customer, "c", BULLETINS, {})
    draft = await _bulletin(db, world, "Draft news", publish=False)
    assert (await agent.next("a"))["bulletinChanged"] == {
        "title": "Draft news",
        "published": False,
        "phase": "INVESTIGATING",
    }
    await bulletins.publish_bulletin(db, world.alice, draft.id)
    assert (await agent.next("a"))["bulletinChanged"]["published"] is True
    assert (await customer.next("c"))["bulletinChanged"] == {
        "title": "Draft news",
        "published": True,
        "phase": "INVESTIGATING",
    }
    await customer.nothing_more()
    await agent.close()
    await customer.close()


async def test_every_service_status_change_is_an_event(db: Database, live: f.LiveApp, world: World) -> None:
    socket = await Socket.connected(live.url, world.tokens["carol"])
    await subscribed(socket, "1", STATUSES, {})
    row = await _bulletin(db, world, "Mail down", publish=True, status=ServiceStatus.MAJOR_OUTAGE)
    change = (await socket.next("1"))["serviceStatusChanged"]
    assert change["status"] == "MAJOR_OUTAGE" and change["service"]["name"] == "Mail"
    assert change["service"]["id"] == f.encode_id("Service", world.service)
    await bulletins.post_bulletin_update(
        db, world.alice, bulletins.NewUpdate(row.id, BulletinPhase.RESOLVED, "Fixed.")
    )
    change = (await socket.next("1"))["serviceStatusChanged"]
    assert change["status"] == "OPERATIONAL"
    await socket.close()


async def test_subscribers_of_status_changes_read_nothing_of_their_own(
    db: Database, live: f.LiveApp, world: World
) -> None:
    # The hub reads a change's service once for the process; a subscriber's render reads nothing more.
    sockets = [await Socket.connected(live.url, world.tokens["carol"]) for _ in range(6)]
    for socket in sockets:
        await subscribed(socket, "1", STATUSES, {})
    with f.counting_statements(live) as counted:
        row = await _bulletin(db, world, "Read once", publish=True, status=ServiceStatus.PARTIAL_OUTAGE)
        for socket in sockets:
            change = (await socket.next("1"))["serviceStatusChanged"]
            assert change["status"] == "PARTIAL_OUTAGE" and change["service"]["name"] == "Mail"
    assert counted.statements == []
    await bulletins.post_bulletin_update(
        db, world.alice, bulletins.NewUpdate(row.id, BulletinPhase.RESOLVED, "Ok.")
    )
    for socket in sockets:
        await socket.next("1")
        await socket.close()


NESTED = """subscription {
  incidentEvents { kind message actor incident { number title status service { name status } } }
}"""


async def test_incident_events_with_their_incident_and_service_read_nothing_per_render(
    db: Database, live: f.LiveApp, world: World
) -> None:
    # The hub reads the event's incident and service with it; renders (a customer's, an agent's) read
    # nothing more, however many subscribers.
    incident = await f.report(db, world.carol, world.acme, "Mail bounces", service_id=world.service)
    sockets = [
        await Socket.connected(live.url, world.tokens[name], protocol)
        for name in ("carol", "alice")
        for protocol in (TRANSPORT, LEGACY)
    ]
    for socket in sockets:
        await subscribed(socket, "1", NESTED, {})
    with f.counting_statements(live) as counted:
        await incidents.add_comment(
            db, world.alice, incident_id=incident.id, body="looking", visibility=Visibility.PUBLIC
        )
        for socket in sockets:
            event = (await socket.next("1"))["incidentEvents"]
            assert event["message"] == "looking" and event["incident"]["title"] == "Mail bounces"
            assert event["incident"]["service"]["name"] == "Mail"
    assert counted.statements == [], [st[:120] for st in counted.statements]
    for socket in sockets:
        await socket.close()


async def test_service_status_changes_of_the_named_services_only(
    db: Database, live: f.LiveApp, world: World
) -> None:
    manager = f.actor("mary", {world.acme: Role.MANAGER})
    other = await f.create_service(db, manager, world.acme, f"Other {uuid.uuid4().hex[:6]}")
    socket = await Socket.connected(live.url, world.tokens["carol"])
    query = "subscription($s: [ID!]) { serviceStatusChanged(services: $s) { service { name } status } }"
    await subscribed(socket, "1", query, {"s": [f.encode_id("Service", world.service)]})
    [elsewhere] = await bulletins.create_bulletin(
        db,
        world.alice,
        bulletins.NewBulletin(
            tenant_ids=[world.acme],
            kind=BulletinKind.INCIDENT,
            title="Other down",
            body="Looking into it.",
            phase=BulletinPhase.INVESTIGATING,
            affected=[bulletins.Affected(other.id, ServiceStatus.DEGRADED_PERFORMANCE)],
            publish=True,
        ),
    )
    row = await _bulletin(db, world, "Mail slow", publish=True, status=ServiceStatus.PARTIAL_OUTAGE)
    change = (await socket.next("1"))["serviceStatusChanged"]
    assert change == {"service": {"name": "Mail"}, "status": "PARTIAL_OUTAGE"}
    for done in (row, elsewhere):
        await bulletins.post_bulletin_update(
            db, world.alice, bulletins.NewUpdate(done.id, BulletinPhase.RESOLVED, "Fixed.")
        )
    assert (await socket.next("1"))["serviceStatusChanged"]["status"] == "OPERATIONAL"
    await socket.close()


PUBLIC = """subscription($slug: String!) {
  publicStatusChanged(tenantSlug: $slug) { tenantName overall services { name status } activeBulletins { title phase updates { body } } }
}"""


@BOTH
async def test_the_public_status_streams_without_a_token(
    db: Database, live: f.LiveApp, world: World, protocol: str
) -> None:
    socket = await Socket.connected(live.url, None, protocol)
    await socket.subscribe("1", PUBLIC, {"slug": "acme"})
    first = (await socket.next("1"))["publicStatusChanged"]
    assert first["tenantName"] == "Acme"
    title = f"Public news {protocol}"
    row = await _bulletin(db, world, title, publish=True, status=ServiceStatus.PARTIAL_OUTAGE)
    for _ in range(3):
        state = (await socket.next("1"))["publicStatusChanged"]
        if (
            any(b["title"] == title for b in state["activeBulletins"])
            and state["services"][0]["status"] != "OPERATIONAL"
        ):
            break
    else:
        raise AssertionError(state)
    assert state["overall"] in {"PARTIAL_OUTAGE", "MAJOR_OUTAGE"}
    await bulletins.post_bulletin_update(
        db, world.alice, bulletins.NewUpdate(row.id, BulletinPhase.RESOLVED, "Over.")
    )
    await socket.close()


FOLLOWING = """subscription($slug: String!, $services: [String!]) {
  publicStatusChanged(tenantSlug: $slug, services: $services) { services { slug status } activeBulletins { title } }
}"""


@BOTH
async def test_a_status_page_embed_follows_only_its_services(
    db: Database, live: f.LiveApp, world: World, protocol: str
) -> None:
    """An embed following one service shows that service and the bulletins affecting it, and is not
    sent anything for a change of another service: the filter applies before anything is rendered."""
    manager = f.actor("mona", {world.acme: Role.MANAGER})
    mark = uuid.uuid4().hex[:6]
    shown = await f.create_service(db, manager, world.acme, f"Shown {mark}")
    hidden = await f.create_service(db, manager, world.acme, f"Hidden {mark}")
    socket = await Socket.connected(live.url, None, protocol)
    await socket.subscribe("1", FOLLOWING, {"slug": "acme", "services": [shown.slug.upper()]})
    first = (await socket.next("1"))["publicStatusChanged"]
    assert first["services"] == [{"slug": shown.slug, "status": "OPERATIONAL"}]

    major = ServiceStatus.MAJOR_OUTAGE
    elsewhere = await _bulletin(db, world, f"Elsewhere {mark}", publish=True, status=major, service=hidden.id)
    here = await _bulletin(db, world, f"Here {mark}", publish=True, status=major, service=shown.id)
    # The first state sent after the hidden service's outage is already the shown one's (its bulletin and
    # status change commit together): nothing was sent for the other service.
    state = (await socket.next("1"))["publicStatusChanged"]
    titles = {b["title"] for b in state["activeBulletins"]}
    assert state["services"] == [{"slug": shown.slug, "status": "MAJOR_OUTAGE"}]
    # Tenant-wide notices (no service named) show on every embed; another service's bulletin does not.
    assert f"Here {mark}" in titles and f"Elsewhere {mark}" not in titles
    for row in (elsewhere, here):
        await bulletins.post_bulletin_update(
            db, world.alice, bulletins.NewUpdate(row.id, BulletinPhase.RESOLVED, "Over.")
        )
    # The hidden service's recovery came first, and sent nothing either.
    state = (await socket.next("1"))["publicStatusChanged"]
    assert state["services"] == [{"slug": shown.slug, "status": "OPERATIONAL"}]
    await socket.close()


@BOTH
async def test_an_embed_naming_a_service_the_page_does_not_show_is_refused(
    live: f.LiveApp, protocol: str
) -> None:
    socket = await Socket.connected(live.url, None, protocol)
    await socket.subscribe("1", FOLLOWING, {"slug": "acme", "services": ["no-such-service"]})
    [error] = errors_of(await socket.receive())
    assert error["extensions"]["code"] == "NOT_FOUND" and "no-such-service" in error["message"]
    await socket.close()


async def test_a_page_is_sent_again_only_when_it_changed(db: Database, world: World) -> None:
    """Two reads of an unchanged page look alike, so a viewer is not sent the same page twice when a read
    already showed a change that arrives after it; a change makes it look different."""
    tenant = await public_tenant(db, "acme")
    assert tenant is not None
    before = (await public_view(db, tenant)).fingerprint()
    assert (await public_view(db, tenant)).fingerprint() == before
    row = await _bulletin(db, world, "Fingerprinted", publish=True, status=ServiceStatus.DEGRADED_PERFORMANCE)
    assert (await public_view(db, tenant)).fingerprint() != before
    await bulletins.post_bulletin_update(
        db, world.alice, bulletins.NewUpdate(row.id, BulletinPhase.RESOLVED, "Over.")
    )


@pytest.mark.parametrize("slug", ["globex", "no-such-tenant"])
async def test_the_public_status_of_a_tenant_without_a_page_is_not_found(live: f.LiveApp, slug: str) -> None:
    socket = await Socket.connected(live.url, None)
    await socket.subscribe("1", PUBLIC, {"slug": slug})
    [error] = errors_of(await socket.receive())
    assert error["extensions"]["code"] == "NOT_FOUND" and error["message"] == "status page not found"
    await socket.close()


async def test_viewers_of_one_public_page_share_each_read_of_it(
    db: Database, live: f.LiveApp, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    import api.subscriptions

    reads = 0
    real = api.subscriptions.current_view

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal reads
        reads += 1
        return await real(*args, **kwargs)

    monkeypatch.setattr(api.subscriptions, "current_view", counted)
    viewers = [await Socket.connected(live.url, None) for _ in range(20)]
    for viewer in viewers:
        await viewer.subscribe("1", PUBLIC, {"slug": "acme"})
    for viewer in viewers:
        await viewer.next("1")
    reads = 0
    row = await _bulletin(db, world, "Shared read", publish=True, status=ServiceStatus.DEGRADED_PERFORMANCE)
    for viewer in viewers:
        while not any(
            b["title"] == "Shared read"
            for b in (await viewer.next("1"))["publicStatusChanged"]["activeBulletins"]
        ):
            pass
    assert 1 <= reads <= 4, reads  # one per batch of changes, not one per viewer
    await bulletins.post_bulletin_update(
        db, world.alice, bulletins.NewUpdate(row.id, BulletinPhase.RESOLVED, "Over.")
    )
    for viewer in viewers:
        await viewer.close()


async def test_closed_connections_leave_no_feed_behind(live: f.LiveApp, world: World) -> None:
    hub = live.app.state.hub
    sockets = [
        await Socket.connected(live.url, world.tokens["alice"], TRANSPORT),
        await Socket.connected(live.url, world.tokens["carol"], LEGACY),
        await Socket.connected(live.url, None, TRANSPORT),
    ]
    await subscribed(sockets[0], "1", EVENTS, {"tenant": "acme"})
    await subscribed(sockets[1], "1", BULLETINS, {})
    await subscribed(sockets[2], "1", PUBLIC, {"slug": "acme"})
    assert hub.subscriber_count() >= 3
    for socket in sockets:
        await socket.close()
    await eventually_async(lambda: hub.subscriber_count() == 0, "every feed closed")


# ---------------------------------------------------------------- one render per group


async def test_an_event_is_rendered_once_for_subscribers_who_see_it_alike(
    settings: Settings, db: Database, live: f.LiveApp, world: World
) -> None:
    customers = [f"viewer-{n}" for n in range(6)]
    for name in customers:
        await f.add_member(db, world.acme, name, Role.CUSTOMER)
    tokens = await f.mint_tokens(settings, db, *customers)
    sockets = []
    for n, name in enumerate(customers):
        socket = await Socket.connected(live.url, tokens[name], TRANSPORT if n % 2 else LEGACY)
        await subscribed(socket, "1", EVENTS, {})
        sockets.append(socket)
    agent = await Socket.connected(live.url, world.tokens["alice"])
    await subscribed(agent, "1", EVENTS, {"tenant": "acme"})
    # The same customers' document with another variable is another group.
    other = await Socket.connected(live.url, tokens[customers[0]])
    await subscribed(other, "2", EVENTS, {"tenant": "acme"})

    hub = live.app.state.hub
    before, renders = RENDERS.executions, sum(group.renders for group in groups_of(hub).values())
    await comment(db, world, "rendered once per group")
    answers = [(await socket.next("1"))["incidentEvents"] for socket in sockets]
    staff = (await agent.next("1"))["incidentEvents"]
    assert (await other.next("2"))["incidentEvents"] == answers[0]
    assert all(answer == answers[0] for answer in answers)
    assert answers[0]["message"] == "rendered once per group" and answers[0]["incident"]["number"]
    assert staff["id"] == answers[0]["id"]
    # Six customers alike, one with other variables, one agent: three renders, not eight, each by a live
    # group that makes its JSON text once and sends the same bytes to all of its members.
    assert RENDERS.executions - before == 3
    assert sum(group.renders for group in groups_of(hub).values()) - renders == 3

    # An internal note reaches the agent only, rendered for the agent alone.
    before = RENDERS.executions
    await comment(db, world, "internal, never shared", Visibility.INTERNAL)
    assert (await agent.next("1"))["incidentEvents"]["visibility"] == "INTERNAL"
    for socket in sockets:
        await socket.nothing_more()
    assert RENDERS.executions - before == 1
    for socket in [*sockets, agent, other]:
        await socket.close()
