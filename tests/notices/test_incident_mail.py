"""Incident mails, end to end: a real uvicorn serves the app, whose mail worker sends to a real SMTP
server (aiosmtpd) in this process; the tests read what arrived and follow its links over HTTP.

Changes are made through the domain's use cases as the tenants' people (a comment, a resolution, an
assignment), or over GraphQL where the feature is the API's (watching, preferences). A mail that must
not exist is looked for in the outbox itself: mails are queued in their event's transaction, so once
one mail of an event is there, every mail of that event is.
"""

from __future__ import annotations

import email
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import Message
from typing import Any

import httpx
import pytest
import pytest_asyncio
from aiosmtpd.controller import Controller
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import Engine

from auth import Principal
from domain.db import Database
from domain.incidents import handling
from domain.incidents import service as incidents
from domain.incidents.enums import ResolutionCode, Visibility
from domain.incidents.models import Incident
from domain.notices.preferences import update_notification_preferences
from domain.sealing import MAIL_LINKS, derived_secret
from domain.settings import Settings
from domain.sla.scanner import scan_once
from domain.tenancy.roles import Role
from tests import factories as f
from tests.server import free_port
from tests.sla.support import backdate, create_contract
from tests.waiting import PATIENCE, eventually_async

PREFERENCES = "email publicUpdates resolution survey assignment slaAtRisk tenant { slug }"


class Inbox:
    """An aiosmtpd handler keeping every message it accepts, with its envelope's recipients."""

    def __init__(self) -> None:
        self.mails: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails.append((list(envelope.rcpt_tos), email.message_from_bytes(envelope.content)))
        return "250 OK"

    def to(self, address: str, containing: str) -> list[Message]:
        """The mails that reached ``address`` whose subject or text holds ``containing``."""
        return [
            message
            for recipients, message in list(self.mails)
            if address in recipients
            and (containing in str(message["Subject"]) or containing in text_of(message))
        ]

    async def wait(self, address: str, containing: str) -> Message:
        found = await eventually_async(
            lambda: self.to(address, containing), f"a mail to {address} about {containing!r}"
        )
        assert len(found) == 1, [m["Subject"] for m in found]
        return found[0]


def text_of(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode()
    return ""


def html_of(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/html":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode()
    return ""


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield inbox, controller.port
    controller.stop()


@pytest.fixture(scope="module")
def settings(test_db: Any, smtp: tuple[Inbox, int]) -> Settings:
    # The served scanner and auto-close are off: a test runs the SLA scan itself, and nothing closes
    # behind its back.
    return f.settings_for(
        test_db,
        smtp_url=f"smtp://127.0.0.1:{smtp[1]}?starttls=false",
        sla_scanner_max_sleep_seconds=0,
        auto_close_interval_seconds=0,
    )


@dataclass
class World:
    acme: uuid.UUID
    globex: uuid.UUID
    people: dict[str, Principal]
    tokens: dict[str, str]

    def __getitem__(self, subject: str) -> Principal:
        return self.people[subject]


MEMBERS = {
    # subject: (tenant, role, email or None)
    "carol": ("acme", Role.CUSTOMER, "carol@acme.example"),  # reports incidents
    "dave": ("acme", Role.CUSTOMER, "dave@acme.example"),  # watches them
    "erin": ("acme", Role.CUSTOMER, None),  # watches them, without an address
    "alice": ("acme", Role.AGENT, "alice@provider.example"),  # works them
    "sam": ("acme", Role.AGENT, "sam@provider.example"),  # is assigned them
    "tom": ("acme", Role.AGENT, None),  # is assigned them, without an address
    "mona": ("acme", Role.MANAGER, "mona@provider.example"),
    "gina": ("globex", Role.CUSTOMER, "gina@globex.example"),  # another tenant's customer
}


@pytest_asyncio.fixture(scope="module")
async def world(db: Database, settings: Settings) -> World:
    tenants = {slug: (await f.create_tenant(db, slug)).id for slug in ("acme", "globex")}
    people = {}
    for subject, (slug, role, address) in MEMBERS.items():
        await f.add_member(db, tenants[slug], subject, role)
        people[subject] = f.actor(subject, {tenants[slug]: role})
        if address is not None:
            await update_notification_preferences(db, people[subject], tenant_id=tenants[slug], email=address)
    # mona is also staff of globex: a staff member of two tenants has preferences in each.
    await f.add_member(db, tenants["globex"], "mona", Role.MANAGER)
    people["mona"] = f.actor("mona", {tenants["acme"]: Role.MANAGER, tenants["globex"]: Role.MANAGER})
    tokens = await f.mint_tokens(settings, db, *MEMBERS)
    return World(tenants["acme"], tenants["globex"], people, tokens)


@pytest.fixture(scope="module")
def live(test_db: Any, settings: Settings, world: World) -> Iterator[f.LiveApp]:
    with f.app_server(test_db, settings) as served:
        yield served


async def reported(db: Database, world: World, title: str) -> Incident:
    """An incident carol reports."""
    return await f.report(db, world["carol"], world.acme, title)


async def assign(db: Database, world: World, incident: Incident, *, by: str, to: str) -> None:
    """``by`` assigns the incident to ``to`` (no group, whatever its version)."""
    await incidents.assign_incident(
        db,
        world[by],
        incident_id=incident.id,
        expected_version=None,
        assignee=to,
        assignment_group=None,
    )


def watch(
    live: f.LiveApp, world: World, subject: str, incident_id: uuid.UUID, *, watching: bool = True
) -> Any:
    operation = "watchIncident" if watching else "unwatchIncident"
    data = live.gql_ok(
        world.tokens[subject],
        f"mutation($id: ID!) {{ {operation}(input: {{id: $id}}) {{"
        " incident { number watching } userErrors { field message code } } }",
        {"id": f.encode_id("Incident", incident_id)},
    )
    return data[operation]


def outbox(owner: Engine, marker: str) -> list[tuple[str, str, str]]:
    """(recipient, reason, template) of every queued mail whose context mentions ``marker``."""
    rows = f.owner_sql(
        owner,
        "SELECT recipient, reason, coalesce(template, '') FROM outgoing_mails"
        " WHERE context::text LIKE :m OR subject LIKE :m ORDER BY recipient, reason",
        {"m": f"%{marker}%"},
    )
    return [(r[0], r[1], r[2]) for r in rows]


def links(message: Message, path: str) -> list[str]:
    """The links to ``path`` in a mail's text, made to point at the live server instead of the public
    address the mail was written with."""
    return [
        str(found)
        for found in re.findall(rf"{re.escape(f.ISSUER)}({re.escape(path)}\?\S+)", text_of(message))
    ]


def link(message: Message, path: str) -> str:
    [found] = links(message, path)
    return found


async def get(url: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=PATIENCE) as client:
        return await client.get(url)


async def post(url: str, **body: Any) -> httpx.Response:
    async with httpx.AsyncClient(timeout=PATIENCE) as client:
        return await client.post(url, **body)


def unique(what: str) -> str:
    return f"{what} {uuid.uuid4().hex[:8]}"


# ---------------------------------------------------------------- preferences and watching over GraphQL


def test_preferences_read_as_defaults_until_set_and_change_only_what_is_given(
    live: f.LiveApp, world: World
) -> None:
    query = f"query {{ viewer {{ notificationPreferences {{ {PREFERENCES} }} }} }}"
    [fresh] = live.gql_ok(world.tokens["erin"], query)["viewer"]["notificationPreferences"]
    assert fresh == {
        "email": None,
        "publicUpdates": True,
        "resolution": True,
        "survey": True,
        "assignment": True,
        "slaAtRisk": True,
        "tenant": {"slug": "acme"},
    }
    update = (
        f"mutation($input: UpdateNotificationPreferencesInput!) {{ updateNotificationPreferences(input: $input)"
        f" {{ preferences {{ {PREFERENCES} }} userErrors {{ field message code }} }} }}"
    )
    changed = live.gql_ok(world.tokens["mona"], update, {"input": {"tenant": "globex", "survey": False}})
    payload = changed["updateNotificationPreferences"]
    assert payload["userErrors"] == []
    assert payload["preferences"]["survey"] is False and payload["preferences"]["email"] is None
    both = live.gql_ok(world.tokens["mona"], query)["viewer"]["notificationPreferences"]
    assert {p["tenant"]["slug"]: (p["email"], p["survey"]) for p in both} == {
        "acme": ("mona@provider.example", True),
        "globex": (None, False),
    }
    refused = live.gql_ok(
        world.tokens["carol"], update, {"input": {"email": "carol@acme.example, x@y.example"}}
    )
    assert refused["updateNotificationPreferences"]["userErrors"] == [
        {"field": ["input", "email"], "message": "must be one email address", "code": "INVALID"}
    ]
    foreign = live.gql_ok(world.tokens["carol"], update, {"input": {"tenant": "globex", "survey": False}})
    assert foreign["updateNotificationPreferences"]["userErrors"] == [
        {"field": ["input", "tenant"], "message": "tenant not found", "code": "NOT_FOUND"}
    ]
    # Refusals changed nothing.
    [carol] = live.gql_ok(world.tokens["carol"], query)["viewer"]["notificationPreferences"]
    assert carol["email"] == "carol@acme.example" and carol["survey"] is True


async def test_a_member_who_may_read_an_incident_watches_it_and_no_one_else_can(
    live: f.LiveApp, world: World, db: Database
) -> None:
    incident = await reported(db, world, unique("Watched"))
    assert watch(live, world, "dave", incident.id) == {
        "incident": {"number": incident.display_number, "watching": True},
        "userErrors": [],
    }
    assert watch(live, world, "dave", incident.id)["incident"]["watching"] is True  # again: no change
    read = live.gql_ok(
        world.tokens["carol"],
        "query($id: ID!) { node(id: $id) { ... on Incident { watching } } }",
        {"id": f.encode_id("Incident", incident.id)},
    )
    assert read["node"]["watching"] is False  # the reporter is told without watching
    # Another tenant's customer and a made-up id answer alike.
    for incident_id in (incident.id, uuid.uuid4()):
        assert watch(live, world, "gina", incident_id) == {
            "incident": None,
            "userErrors": [{"field": ["input", "id"], "message": "incident not found", "code": "NOT_FOUND"}],
        }
    assert watch(live, world, "dave", incident.id, watching=False)["incident"]["watching"] is False


# ---------------------------------------------------------------- customers' mails


async def test_reporter_and_watchers_get_public_updates_and_never_an_internal_note(
    live: f.LiveApp, world: World, db: Database, owner: Engine, smtp: tuple[Inbox, int]
) -> None:
    inbox, _ = smtp
    incident = await reported(db, world, unique("Printer on fire"))
    for subject in ("dave", "erin", "alice", "gina"):
        if subject != "gina":
            watch(live, world, subject, incident.id)
    secret = unique("internal: the root password is hunter2")
    await incidents.add_comment(
        db, world["alice"], incident_id=incident.id, body=secret, visibility=Visibility.INTERNAL
    )
    public = unique("We are on it & <b>escalating</b>")
    await incidents.add_comment(
        db, world["alice"], incident_id=incident.id, body=public, visibility=Visibility.PUBLIC
    )
    carol = await inbox.wait("carol@acme.example", public)
    dave = await inbox.wait("dave@acme.example", public)
    assert carol["Subject"] == f"[Acme] {incident.display_number} New comment: {incident.title}"
    assert "you reported this incident" in text_of(carol) and "you watch this incident" in text_of(dave)
    # The HTML part escapes what people wrote.
    assert "&lt;b&gt;escalating&lt;/b&gt;" in html_of(carol) and "<b>escalating" not in html_of(carol)
    # One-click unsubscribe, signed for this member.
    assert carol["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert carol["List-Unsubscribe"].startswith(f"<{f.ISSUER}/mail/notifications/unsubscribe?token=")
    # Nobody else: not the author, not a watcher without an address, not another tenant.
    assert outbox(owner, public) == [
        ("carol@acme.example", "incident.public_update", "incident_update"),
        ("dave@acme.example", "incident.public_update", "incident_update"),
    ]
    assert outbox(owner, secret) == []
    assert not any(secret in text_of(m) or secret in html_of(m) for _, m in inbox.mails)


async def test_a_customers_comment_reaches_the_watching_staff_but_not_its_author(
    live: f.LiveApp, world: World, db: Database, owner: Engine, smtp: tuple[Inbox, int]
) -> None:
    inbox, _ = smtp
    incident = await reported(db, world, unique("Slow pages"))
    watch(live, world, "sam", incident.id)
    said = unique("It is still slow this morning")
    await incidents.add_comment(
        db, world["carol"], incident_id=incident.id, body=said, visibility=Visibility.PUBLIC
    )
    await inbox.wait("sam@provider.example", said)
    assert outbox(owner, said) == [("sam@provider.example", "incident.public_update", "incident_update")]


async def test_a_kind_of_mail_turned_off_is_not_sent(
    live: f.LiveApp, world: World, db: Database, owner: Engine, smtp: tuple[Inbox, int]
) -> None:
    inbox, _ = smtp
    incident = await reported(db, world, unique("Quiet please"))
    watch(live, world, "dave", incident.id)
    update = "mutation($input: UpdateNotificationPreferencesInput!) { updateNotificationPreferences(input: $input) { userErrors { code } } }"
    live.gql_ok(world.tokens["dave"], update, {"input": {"publicUpdates": False}})
    try:
        said = unique("An update dave does not want")
        await incidents.add_comment(
            db, world["alice"], incident_id=incident.id, body=said, visibility=Visibility.PUBLIC
        )
        await inbox.wait("carol@acme.example", said)
        assert outbox(owner, said) == [("carol@acme.example", "incident.public_update", "incident_update")]
    finally:
        live.gql_ok(world.tokens["dave"], update, {"input": {"publicUpdates": True}})


async def test_the_unsubscribe_link_turns_that_kind_of_mail_off_in_one_click(
    live: f.LiveApp, world: World, db: Database, smtp: tuple[Inbox, int]
) -> None:
    inbox, _ = smtp
    incident = await reported(db, world, unique("Unsubscribing"))
    watch(live, world, "dave", incident.id)
    said = unique("Before unsubscribing")
    await incidents.add_comment(
        db, world["alice"], incident_id=incident.id, body=said, visibility=Visibility.PUBLIC
    )
    mail = await inbox.wait("dave@acme.example", said)
    target = str(mail["List-Unsubscribe"]).strip("<>").replace(f.ISSUER, live.url)
    page = await get(target)
    assert page.status_code == 200 and "Stop these mails" in page.text
    query = "query { viewer { notificationPreferences { publicUpdates resolution } } }"
    assert live.gql_ok(world.tokens["dave"], query)["viewer"]["notificationPreferences"] == [
        {"publicUpdates": True, "resolution": True}  # a GET changes nothing
    ]
    # A mail client's one-click POST (RFC 8058).
    done = await post(target, content=b"List-Unsubscribe=One-Click")
    assert done.status_code == 200 and "updates of incidents" in done.text
    try:
        assert live.gql_ok(world.tokens["dave"], query)["viewer"]["notificationPreferences"] == [
            {"publicUpdates": False, "resolution": True}
        ]
        # Only dave's: carol's preferences are untouched.
        assert live.gql_ok(world.tokens["carol"], query)["viewer"]["notificationPreferences"] == [
            {"publicUpdates": True, "resolution": True}
        ]
    finally:
        live.gql_ok(
            world.tokens["dave"],
            "mutation { updateNotificationPreferences(input: {publicUpdates: true}) { userErrors { code } } }",
        )


async def resolved(db: Database, world: World, incident: Incident, notes: str) -> None:
    await handling.resolve_incident(
        db,
        world["alice"],
        incident_id=incident.id,
        expected_version=None,
        code=ResolutionCode.FIXED,
        notes=notes,
    )


def status_of(live: f.LiveApp, world: World, incident: Incident) -> Any:
    return live.gql_ok(
        world.tokens["carol"],
        "query($id: ID!) { node(id: $id) { ... on Incident { status satisfaction { score comment } } } }",
        {"id": f.encode_id("Incident", incident.id)},
    )["node"]


async def test_the_resolution_mail_confirms_by_its_link_and_the_survey_records_a_rating(
    live: f.LiveApp, world: World, db: Database, owner: Engine, smtp: tuple[Inbox, int]
) -> None:
    inbox, _ = smtp
    incident = await reported(db, world, unique("Checkout broken"))
    watch(live, world, "dave", incident.id)
    notes = unique("The payment gateway certificate was renewed")
    await resolved(db, world, incident, notes)
    carol = await inbox.wait("carol@acme.example", notes)
    dave = await inbox.wait("dave@acme.example", notes)
    assert carol["Subject"] == f"[Acme] {incident.display_number} resolved: {incident.title}"
    assert "Fixed" in text_of(carol)
    assert "/mail/incidents/" not in text_of(dave)  # a watcher may not confirm: no links for them
    confirm = link(carol, "/mail/incidents/confirm")

    # A GET (a mail scanner's, a preview's) only shows the question.
    page = await get(f"{live.url}{confirm}")
    assert page.status_code == 200, page.text
    assert "Yes, close the incident" in page.text and incident.display_number in page.text
    assert page.headers["cache-control"] == "no-store" and page.headers["referrer-policy"] == "no-referrer"
    assert status_of(live, world, incident)["status"] == "RESOLVED"

    done = await post(f"{live.url}{confirm}")
    assert done.status_code == 200 and f"{incident.display_number} is closed" in done.text
    assert status_of(live, world, incident)["status"] == "CLOSED"
    # Answering again changes nothing, and says why.
    again = await post(f"{live.url}{confirm}")
    assert again.status_code == 409 and "Cannot close an incident that is CLOSED" in again.text
    looked = await get(f"{live.url}{confirm}")
    assert looked.status_code == 200 and "Nothing to do" in looked.text and "<form" not in looked.text
    reopen = link(carol, "/mail/incidents/reopen")
    late = await post(f"{live.url}{reopen}", data={"reason": "too late"})
    assert late.status_code == 409 and "Cannot reopen an incident that is CLOSED" in late.text

    # Closed by its reporter: the survey follows, to the reporter alone.
    survey = await inbox.wait("carol@acme.example", f"How did we handle {incident.display_number}")
    assert outbox(owner, f"How did we handle {incident.display_number}") == [
        ("carol@acme.example", "incident.survey", "incident_survey")
    ]
    ratings = links(survey, "/mail/incidents/rate")
    assert [r.rsplit("=", 1)[1] for r in ratings] == ["1", "2", "3", "4", "5"]
    four = ratings[3]
    asked = await get(f"{live.url}{four}")
    assert asked.status_code == 200 and 'value="4" checked' in asked.text
    assert status_of(live, world, incident)["satisfaction"] is None
    # A rating that no link carries, and a token someone edited, are refused.
    for bad in (re.sub(r"rating=4$", "rating=9", four), re.sub(r"rating=4$", "rating=x", four)):
        assert (await get(f"{live.url}{bad}")).status_code == 400
        assert (await post(f"{live.url}{bad}")).status_code == 400
    tampered = re.sub(r"token=([^&]{10})", lambda m: "token=" + m.group(1)[::-1], four)
    assert (await get(f"{live.url}{tampered}")).status_code == 400
    assert (await post(f"{live.url}{tampered}", data={"rating": "1"})).status_code == 400
    refused = await post(f"{live.url}{four}", data={"rating": "0"})
    assert refused.status_code == 400
    assert status_of(live, world, incident)["satisfaction"] is None

    rated = await post(f"{live.url}{four}", data={"rating": "4", "comment": "Good <i>job</i>"})
    assert rated.status_code == 200 and "4 of 5" in rated.text
    assert status_of(live, world, incident)["satisfaction"] == {"score": 4, "comment": "Good <i>job</i>"}
    twice = await post(f"{live.url}{four}", data={"rating": "5"})
    assert twice.status_code == 409 and "already been rated" in twice.text
    assert status_of(live, world, incident)["satisfaction"]["score"] == 4
    # A link of one kind never works as another: the survey's token does not confirm.
    token = re.search(r"token=([^&]+)", four)
    assert token is not None
    assert (await post(f"{live.url}/mail/incidents/confirm?token={token.group(1)}")).status_code == 400


async def test_the_reopen_link_reopens_with_the_customers_reason(
    live: f.LiveApp, world: World, db: Database, smtp: tuple[Inbox, int]
) -> None:
    inbox, _ = smtp
    incident = await reported(db, world, unique("Login loops"))
    notes = unique("Cleared the session cache")
    await resolved(db, world, incident, notes)
    reopen = link(await inbox.wait("carol@acme.example", notes), "/mail/incidents/reopen")
    page = await get(f"{live.url}{reopen}")
    assert page.status_code == 200 and "What is still wrong?" in page.text
    blank = await post(f"{live.url}{reopen}", data={"reason": "  "})
    assert blank.status_code == 400 and "must not be blank" in blank.text and "<form" in blank.text
    assert status_of(live, world, incident)["status"] == "RESOLVED"
    done = await post(f"{live.url}{reopen}", data={"reason": "It still loops on Firefox"})
    assert done.status_code == 200 and "open again" in done.text
    assert status_of(live, world, incident)["status"] == "IN_PROGRESS"
    timeline = live.gql_ok(
        world.tokens["alice"],
        "query($id: ID!) { node(id: $id) { ... on Incident { timeline(last: 1) { edges { node { kind actor message } } } } } }",
        {"id": f.encode_id("Incident", incident.id)},
    )["node"]["timeline"]["edges"]
    assert timeline == [
        {"node": {"kind": "REOPENED", "actor": "carol", "message": "It still loops on Firefox"}}
    ]


async def test_an_expired_or_foreign_link_is_refused_with_a_page(
    live: f.LiveApp, world: World, db: Database, owner: Engine, settings: Settings
) -> None:
    incident = await reported(db, world, unique("Expired"))
    await resolved(db, world, incident, "Done")
    [(membership,)] = f.owner_sql(
        owner, "SELECT id FROM memberships WHERE subject = 'carol' AND tenant_id = :t", {"t": world.acme}
    )
    data = {"t": str(world.acme), "m": str(membership), "i": str(incident.id)}

    class LongAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - int(timedelta(days=settings.mail_link_days + 1).total_seconds())

    def token(signer: type[TimestampSigner], salt: str = "incidentdesk.mail.incident.confirm") -> str:
        serializer = URLSafeTimedSerializer(derived_secret(settings, MAIL_LINKS), salt=salt, signer=signer)
        return str(serializer.dumps(data))

    expired = await post(f"{live.url}/mail/incidents/confirm?token={token(LongAgo)}")
    assert expired.status_code == 400 and "expired" in expired.text
    fresh = token(TimestampSigner)
    # The same link signed for the other tenant's member would name a membership that is not there.
    foreign = {**data, "t": str(world.globex)}
    serializer = URLSafeTimedSerializer(
        derived_secret(settings, MAIL_LINKS), salt="incidentdesk.mail.incident.confirm"
    )
    gone = await get(f"{live.url}/mail/incidents/confirm?token={serializer.dumps(foreign)}")
    assert gone.status_code == 404 and "no longer exists" in gone.text
    assert (await get(f"{live.url}/mail/incidents/confirm")).status_code == 400
    assert status_of(live, world, incident)["status"] == "RESOLVED"
    works = await post(f"{live.url}/mail/incidents/confirm?token={fresh}")
    assert works.status_code == 200
    assert status_of(live, world, incident)["status"] == "CLOSED"


# ---------------------------------------------------------------- staff's mails


async def test_the_assignee_hears_of_an_assignment_and_of_an_sla_at_risk(
    live: f.LiveApp, world: World, db: Database, owner: Engine, smtp: tuple[Inbox, int]
) -> None:
    inbox, _ = smtp
    await create_contract(db, world["mona"], world.acme, effective_from=datetime(2020, 1, 1, tzinfo=UTC))
    incident = await reported(db, world, unique("Disk full"))
    await assign(db, world, incident, by="mona", to="sam")
    assigned = await inbox.wait("sam@provider.example", f"{incident.display_number} (P3) assigned to you")
    assert "by mona" in text_of(assigned)
    # The first response told the customer that work started; the assignment itself is staff's.
    started = await inbox.wait("carol@acme.example", f"{incident.display_number} Work has started")
    assert "sam" not in text_of(started) and "mona" not in text_of(started)
    assert [row[:2] for row in outbox(owner, incident.title)] == [
        ("carol@acme.example", "incident.public_update"),
        ("sam@provider.example", "incident.assigned"),
    ]

    # The resolution clock (1440 minutes for P3) is at risk from 75 %: as if 19 hours had passed.
    backdate(owner, incident.id, timedelta(hours=19))
    await scan_once(db)
    risk = await inbox.wait("sam@provider.example", f"{incident.display_number} (P3): resolution SLA at risk")
    assert "1440 minutes" in text_of(risk)
    # An INTERNAL event: the customers hear nothing of it.
    assert [row[1] for row in outbox(owner, incident.title) if row[0] != "sam@provider.example"] == [
        "incident.public_update"
    ]


async def test_no_staff_mail_for_picking_up_ones_own_work_or_to_a_customer_named_assignee(
    live: f.LiveApp, world: World, db: Database, owner: Engine, smtp: tuple[Inbox, int]
) -> None:
    inbox, _ = smtp
    incident = await reported(db, world, unique("Self service"))
    await assign(db, world, incident, by="alice", to="alice")
    await inbox.wait("carol@acme.example", f"{incident.display_number} Work has started")
    await assign(db, world, incident, by="alice", to="dave")
    said = unique("after the assignments")
    await incidents.add_comment(
        db, world["alice"], incident_id=incident.id, body=said, visibility=Visibility.PUBLIC
    )
    await inbox.wait("carol@acme.example", said)
    assert [row[:2] for row in outbox(owner, incident.title)] == [
        ("carol@acme.example", "incident.public_update"),
        ("carol@acme.example", "incident.public_update"),
    ]


async def test_a_staff_member_without_an_address_or_with_assignments_off_gets_nothing(
    live: f.LiveApp, world: World, db: Database, owner: Engine, smtp: tuple[Inbox, int]
) -> None:
    inbox, _ = smtp
    await update_notification_preferences(db, world["sam"], tenant_id=world.acme, assignment=False)
    try:
        incident = await reported(db, world, unique("Quiet assignment"))
        await assign(db, world, incident, by="mona", to="sam")
        await inbox.wait("carol@acme.example", f"{incident.display_number} Work has started")
        await assign(db, world, incident, by="mona", to="tom")
        said = unique("after the assignments")
        await incidents.add_comment(
            db, world["alice"], incident_id=incident.id, body=said, visibility=Visibility.PUBLIC
        )
        await inbox.wait("carol@acme.example", said)
        assert [row[0] for row in outbox(owner, incident.title)] == ["carol@acme.example"] * 2
    finally:
        await update_notification_preferences(db, world["sam"], tenant_id=world.acme, assignment=True)


# ---------------------------------------------------------------- tenants


async def test_each_tenant_mails_its_own_members_at_the_address_given_there(
    live: f.LiveApp, world: World, db: Database, owner: Engine, smtp: tuple[Inbox, int]
) -> None:
    """mona is staff of acme and globex, with an address at acme only: globex's mails never use it."""
    inbox, _ = smtp
    incident = await f.report(db, world["gina"], world.globex, unique("Globex VPN down"))
    watch(live, world, "mona", incident.id)
    said = unique("Globex: we are looking into it")
    await incidents.add_comment(
        db, world["mona"], incident_id=incident.id, body=said, visibility=Visibility.PUBLIC
    )
    mail = await inbox.wait("gina@globex.example", said)
    assert mail["Subject"].startswith(f"[Globex] {incident.display_number} ")
    other = unique("Globex: a customer's answer")
    await incidents.add_comment(
        db, world["gina"], incident_id=incident.id, body=other, visibility=Visibility.PUBLIC
    )
    # mona watches, but gave globex no address: nothing is queued for her answer's update.
    rows = f.owner_sql(
        owner,
        "SELECT count(*) FROM outgoing_mails WHERE context::text LIKE :m",
        {"m": f"%{other}%"},
    )
    assert rows[0][0] == 0
    assert outbox(owner, said) == [("gina@globex.example", "incident.public_update", "incident_update")]
    # And acme's people never hear of globex's incidents.
    assert not [
        m
        for recipients, m in inbox.mails
        if "Globex" in str(m["Subject"]) and recipients != ["gina@globex.example"]
    ]


async def test_an_operator_adding_a_member_may_give_their_address(
    live: f.LiveApp, world: World, db: Database, settings: Settings
) -> None:
    await f.add_operator(db, "root")
    tokens = await f.mint_tokens(settings, db, "root", "nina", "nora")
    add = (
        'mutation($email: String) { addMember(input: {tenant: "acme", subject: "nina", role: CUSTOMER,'
        " email: $email}) { membership { role } userErrors { field message code } } }"
    )
    refused = live.gql_ok(tokens["root"], add, {"email": "not an address"})["addMember"]
    assert refused == {
        "membership": None,
        "userErrors": [
            {"field": ["input", "email"], "message": "must be one email address", "code": "INVALID"}
        ],
    }
    query = "query { viewer { memberships { role } notificationPreferences { email } } }"
    # Refused as a whole: no membership without its address either.
    assert live.gql_ok(tokens["nina"], query)["viewer"] == {"memberships": [], "notificationPreferences": []}
    added = live.gql_ok(tokens["root"], add, {"email": "nina@acme.example"})["addMember"]
    assert added == {"membership": {"role": "CUSTOMER"}, "userErrors": []}
    expected = {
        "memberships": [{"role": "CUSTOMER"}],
        "notificationPreferences": [{"email": "nina@acme.example"}],
    }
    # Principals are cached per process until the access notice of the new membership arrives.
    await eventually_async(
        lambda: live.gql_ok(tokens["nina"], query)["viewer"] == expected, "nina's membership seen"
    )
    # Only platform operators add members, with or without an address.
    forbidden = live.gql_ok(world.tokens["mona"], add.replace("nina", "nora"), {"email": "nora@acme.example"})
    assert forbidden["addMember"]["userErrors"][0]["code"] == "FORBIDDEN"
    assert live.gql_ok(tokens["nora"], query)["viewer"]["memberships"] == []
