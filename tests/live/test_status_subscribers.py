"""Mail subscribers of the public status page over real HTTP, with mails sent over SMTP to a real server
in this process (aiosmtpd) by the app's own mail worker: subscribing (double opt-in), confirming,
one-click unsubscribing (RFC 8058), mails for published bulletins, their updates and maintenance, the
service filter, the same answer whatever an address's state, the rate limits, refused links, and tenant
isolation.

What the outbox holds is read through the owner connection: a bulletin's mails are queued in the
bulletin's own transaction, so once its mutation has answered, the mails it causes (or not) are there.
Each test uses addresses and client addresses (``X-Forwarded-For``, which uvicorn trusts from loopback)
of its own, so that the rate limits of one never count another's requests.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import Message
from typing import Any

import httpx
import pytest
import pytest_asyncio
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from domain.db import Database
from domain.mail.links import MailLinks
from domain.settings import Settings
from domain.status_subscribers.service import CONFIRM
from domain.tenancy.roles import Role
from tests import factories as f
from tests.conftest import TestDatabase
from tests.smtp import Inbox, smtp_server
from tests.waiting import eventually

ORIGIN = f.ISSUER  # the test app's public address: the base of every link in its mails
PER_ADDRESS = 3
PER_CLIENT = 6


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Inbox, int]]:
    with smtp_server() as served:
        yield served


@pytest.fixture(scope="module")
def settings(test_db: TestDatabase, smtp: tuple[Inbox, int]) -> Settings:
    return f.settings_for(
        test_db,
        smtp_url=f"smtp://127.0.0.1:{smtp[1]}?starttls=false",
        subscribe_email_rate_limit_per_hour=PER_ADDRESS,
        subscribe_client_rate_limit_per_hour=PER_CLIENT,
        bulletin_phase_tick_seconds=0.2,  # the maintenance mover looks often: a window moves by itself
    )


@dataclass
class World:
    services: dict[str, str]  # acme's services' global IDs, by slug
    alice: str  # AGENT of acme
    ivan: str  # AGENT of initech


@pytest_asyncio.fixture(scope="module")
async def world(settings: Settings, db: Database) -> World:
    acme = await f.create_tenant(db, "acme", name="Acme Corp", public_status_page=True)
    globex = await f.create_tenant(db, "globex", name="Globex", public_status_page=True)
    initech = await f.create_tenant(db, "initech", name="Initech", public_status_page=True)
    await f.create_tenant(db, "hooli", name="Hooli")  # no public page
    manager = f.actor("mary", {acme.id: Role.MANAGER, globex.id: Role.MANAGER, initech.id: Role.MANAGER})
    services = {}
    for name in ("Mail", "Web"):
        service = await f.create_service(db, manager, acme.id, name)
        services[service.slug] = f.encode_id("Service", service.id)
    await f.create_service(db, manager, globex.id, "Mail")
    await f.create_service(db, manager, initech.id, "Mail")
    await f.add_member(db, acme.id, "alice", Role.AGENT)
    await f.add_member(db, initech.id, "ivan", Role.AGENT)
    tokens = await f.mint_tokens(settings, db, "alice", "ivan")
    return World(services, tokens["alice"], tokens["ivan"])


@pytest.fixture(scope="module")
def live(test_db: TestDatabase, settings: Settings, world: World) -> Iterator[f.LiveApp]:
    with f.app_server(test_db, settings) as live:
        yield live


@pytest.fixture(scope="module")
def client(live: f.LiveApp) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, timeout=60) as client:
        yield client


# ---------------------------------------------------------------- helpers


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}@example.com"


def subscribe(
    client: httpx.Client, address: str, *services: str, ip: str, slug: str = "acme"
) -> httpx.Response:
    return client.post(
        f"/status/{slug}/subscribe",
        data={"email": address, "services": list(services)},
        headers={"x-forwarded-for": ip},
    )


def mail_to(inbox: Inbox, address: str, subject: str) -> Message:
    """The first mail to ``address`` whose subject holds ``subject``, once it has arrived."""
    return eventually(
        lambda: next((m for m in inbox.to(address) if subject in str(m["Subject"])), None),
        f"a mail to {address} about {subject!r}",
    )


def parts(message: Message) -> dict[str, str]:
    found = {}
    for part in message.walk():
        if not part.is_multipart():
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            found[part.get_content_type()] = payload.decode()
    return found


def link_in(message: Message, path: str) -> str:
    """The link to ``path`` in a mail's text, as a path and query on the live server."""
    [url] = re.findall(
        re.escape(ORIGIN) + r"(/status/[a-z0-9-]+/" + path + r"\?token=\S+)", parts(message)["text/plain"]
    )
    return str(url)


def token_of(url: str) -> str:
    return str(httpx.URL(url).params["token"])


def subscribed(
    client: httpx.Client, inbox: Inbox, address: str, *services: str, ip: str, slug: str = "acme"
) -> Message:
    """An address that followed the link of its confirmation mail (which is returned)."""
    assert subscribe(client, address, *services, ip=ip, slug=slug).status_code == 200
    confirmation = mail_to(inbox, address, "Confirm your subscription")
    answer = client.get(link_in(confirmation, "subscription/confirm"))
    assert answer.status_code == 200 and "You are subscribed" in answer.text, answer.text
    return confirmation


def subscriber(test_db: TestDatabase, address: str) -> Any:
    rows = f.owner_sql(test_db, "SELECT * FROM status_subscribers WHERE email = :a", {"a": address})
    return rows[0] if rows else None


def queued(test_db: TestDatabase, address: str, about: str = "") -> list[Any]:
    """The mails queued for ``address`` (whose subject holds ``about``), oldest first."""
    return f.owner_sql(
        test_db,
        "SELECT reason, subject FROM outgoing_mails WHERE recipient = :a AND strpos(subject, :s) > 0"
        " ORDER BY created_at, id",
        {"a": address, "s": about},
    )


BULLETIN = "bulletins { id } userErrors { field message }"
CREATE = "mutation($input: CreateBulletinInput!) { createBulletin(input: $input) {" + BULLETIN + "} }"
PUBLISH = "mutation($input: BulletinRefInput!) { publishBulletin(input: $input) {" + BULLETIN + "} }"
UPDATE = "mutation($input: BulletinUpdateInput!) { postBulletinUpdate(input: $input) {" + BULLETIN + "} }"
SUBSCRIBE = (
    "mutation($input: SubscribeToStatusPageInput!) { subscribeToStatusPage(input: $input) {"
    " accepted userErrors { field message code } } }"
)


def bulletin(live: f.LiveApp, token: str, title: str, *affected: tuple[str, str], **fields: Any) -> str:
    """Create a bulletin through the API (published unless told otherwise); its global ID."""
    payload = {
        "kind": "INCIDENT",
        "title": title,
        "body": "We are looking into it.",
        "phase": "INVESTIGATING",
        "publish": True,
        "affectedServices": [{"serviceId": service, "status": status} for service, status in affected],
        **fields,
    }
    data = live.gql_ok(token, CREATE, {"input": payload})["createBulletin"]
    assert data["userErrors"] == [], data
    return str(data["bulletins"][0]["id"])


def update(live: f.LiveApp, token: str, bulletin_id: str, phase: str, body: str) -> None:
    data = live.gql_ok(token, UPDATE, {"input": {"id": bulletin_id, "phase": phase, "body": body}})
    assert data["postBulletinUpdate"]["userErrors"] == [], data


def subscribe_over_graphql(live: f.LiveApp, ip: str, **fields: Any) -> dict[str, Any]:
    answer = live.gql_ok(None, SUBSCRIBE, {"input": fields}, headers={"x-forwarded-for": ip})
    payload: dict[str, Any] = answer["subscribeToStatusPage"]
    return payload


class SignedEarlier(MailLinks):
    """Links signed as if ``hours`` ago: an expired link without waiting for it to expire."""

    def __init__(self, settings: Settings, hours: float) -> None:
        base = MailLinks.for_settings(settings)
        super().__init__(base._secrets, base.public_url)
        self.hours = hours

    def _serializer(self, action: str) -> URLSafeTimedSerializer:
        hours = self.hours

        class Earlier(TimestampSigner):
            def get_timestamp(self) -> int:
                return int(datetime.now(UTC).timestamp() - hours * 3600)

        serializer = super()._serializer(action)
        serializer.signer = Earlier
        return serializer


# ---------------------------------------------------------------- the whole flow


def test_subscribe_confirm_receive_and_unsubscribe_in_one_click(
    live: f.LiveApp, client: httpx.Client, smtp: tuple[Inbox, int], world: World, test_db: TestDatabase
) -> None:
    inbox, _ = smtp
    ann = unique("Ann")
    answer = subscribe(client, ann, ip="10.1.0.1")
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    assert answer.headers["cache-control"] == "no-store"
    row = subscriber(test_db, ann.lower())
    assert row is not None and row.confirmed_at is None and row.all_services  # kept lower-cased
    confirmation = mail_to(inbox, ann.lower(), "Confirm your subscription to Acme Corp status updates")
    # Even the confirmation can be refused in one click.
    assert confirmation["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "within 48 hours" in parts(confirmation)["text/plain"]

    # A pending address hears of nothing.
    title = f"Sign-in fails {uuid.uuid4().hex[:6]}"
    bulletin(live, world.alice, title, (world.services["web"], "MAJOR_OUTAGE"))
    assert queued(test_db, ann.lower(), title) == []

    confirmed = client.get(link_in(confirmation, "subscription/confirm"))
    assert confirmed.status_code == 200 and "for all its services" in confirmed.text
    assert subscriber(test_db, ann.lower()).confirmed_at is not None
    assert client.get(link_in(confirmation, "subscription/confirm")).status_code == 200  # twice: the same

    title = f"Web <down> & out {uuid.uuid4().hex[:6]}"
    web = bulletin(
        live, world.alice, title, (world.services["web"], "MAJOR_OUTAGE"), body="Sign-in <fails> & retries."
    )
    published = mail_to(inbox, ann.lower(), title)
    assert published["Subject"] == f"Acme Corp status: {title}"
    unsubscribe = re.fullmatch(
        re.escape(ORIGIN) + r"/status/acme/unsubscribe\?token=([^>\s]+)",
        published["List-Unsubscribe"].strip("<>"),
    )
    assert unsubscribe is not None, published["List-Unsubscribe"]
    assert published["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text, html = parts(published)["text/plain"], parts(published)["text/html"]
    assert (
        "Sign-in <fails> & retries." in text
        and "Affects: Web (Major outage)" in text
        and "Investigating" in text
    )
    assert f"The status page: {ORIGIN}/status/acme" in text
    assert f"Unsubscribe: {ORIGIN}/status/acme/unsubscribe?token=" in text
    assert "Sign-in &lt;fails&gt; &amp; retries." in html and "<fails>" not in html
    assert "alice" not in text  # who wrote it is staff's business

    update(live, world.alice, web, "IDENTIFIED", "A certificate expired.")
    updated = mail_to(inbox, ann.lower(), f"{title} (Identified)")
    assert "A certificate expired." in parts(updated)["text/plain"]

    # The one-click POST of RFC 8058: no cookie, no form of ours, the token in the address.
    with httpx.Client(base_url=live.url, timeout=60) as mail_client:
        gone = mail_client.post(
            f"/status/acme/unsubscribe?token={unsubscribe.group(1)}",
            content=b"List-Unsubscribe=One-Click",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    assert gone.status_code == 200 and "You are unsubscribed" in gone.text
    assert subscriber(test_db, ann.lower()).unsubscribed_at is not None
    again = client.post(f"/status/acme/unsubscribe?token={unsubscribe.group(1)}")
    assert again.status_code == 200 and again.text == gone.text  # idempotent

    update(live, world.alice, web, "RESOLVED", "Fixed.")
    later = f"Payments slow {uuid.uuid4().hex[:6]}"
    bulletin(live, world.alice, later, (world.services["web"], "DEGRADED_PERFORMANCE"))
    assert queued(test_db, ann.lower(), later) == [] and queued(test_db, ann.lower(), "(Resolved)") == []


def test_the_page_has_a_subscribe_form(client: httpx.Client, world: World) -> None:
    page = client.get("/status/acme")
    assert page.status_code == 200
    assert '<form class="subscribe" method="post" action="/status/acme/subscribe">' in page.text
    assert 'name="services" value="mail"' in page.text and 'name="services" value="web"' in page.text
    assert "form-action 'self'" in page.headers["content-security-policy"]


# ---------------------------------------------------------------- who hears of what


def test_a_subscriber_of_some_services_hears_of_those_and_of_page_wide_notices(
    live: f.LiveApp, client: httpx.Client, smtp: tuple[Inbox, int], world: World, test_db: TestDatabase
) -> None:
    inbox, _ = smtp
    bob = unique("bob")
    confirmation = subscribed(client, inbox, bob, "mail", ip="10.2.0.1")
    assert "for: Mail" in parts(confirmation)["text/plain"]
    assert subscriber(test_db, bob).all_services is False

    web_only = f"Web slow {uuid.uuid4().hex[:6]}"
    bulletin(live, world.alice, web_only, (world.services["web"], "DEGRADED_PERFORMANCE"))
    assert queued(test_db, bob, web_only) == []

    mail_too = f"Mail and web down {uuid.uuid4().hex[:6]}"
    bulletin(
        live,
        world.alice,
        mail_too,
        (world.services["web"], "MAJOR_OUTAGE"),
        (world.services["mail"], "PARTIAL_OUTAGE"),
    )
    assert [r.reason for r in queued(test_db, bob, mail_too)] == ["status.bulletin_published"]
    assert "Mail (Partial outage)" in parts(mail_to(inbox, bob, mail_too))["text/plain"]

    everyone = f"Office move {uuid.uuid4().hex[:6]}"
    bulletin(live, world.alice, everyone, kind="INFORMATION", phase="IN_PROGRESS")
    assert "Affects no service in particular" in parts(mail_to(inbox, bob, everyone))["text/plain"]


def test_drafts_are_never_mailed_until_published(
    live: f.LiveApp, client: httpx.Client, smtp: tuple[Inbox, int], world: World, test_db: TestDatabase
) -> None:
    inbox, _ = smtp
    cleo = unique("cleo")
    subscribed(client, inbox, cleo, ip="10.3.0.1")
    title = f"Draft only {uuid.uuid4().hex[:6]}"
    draft = bulletin(live, world.alice, title, (world.services["web"], "MAJOR_OUTAGE"), publish=False)
    update(live, world.alice, draft, "IDENTIFIED", "Findings so far.")
    assert queued(test_db, cleo, title) == []
    data = live.gql_ok(world.alice, PUBLISH, {"input": {"id": draft}})
    assert data["publishBulletin"]["userErrors"] == []
    [mail] = queued(test_db, cleo, title)
    assert mail.reason == "status.bulletin_published" and mail.subject == f"Acme Corp status: {title}"
    # Published with the update it has now: every update of a published bulletin is public.
    assert "Findings so far." in parts(mail_to(inbox, cleo, title))["text/plain"]


def test_maintenance_windows_have_mails_of_their_own(
    live: f.LiveApp, client: httpx.Client, smtp: tuple[Inbox, int], world: World, test_db: TestDatabase
) -> None:
    inbox, _ = smtp
    dora = unique("dora")
    subscribed(client, inbox, dora, ip="10.4.0.1")
    title = f"Database upgrade {uuid.uuid4().hex[:6]}"
    start = datetime(2031, 5, 4, 22, 0, tzinfo=UTC)
    window = bulletin(
        live,
        world.alice,
        title,
        (world.services["web"], "UNDER_MAINTENANCE"),
        kind="MAINTENANCE",
        phase="SCHEDULED",
        scheduledStart=start.isoformat(),
        scheduledEnd=(start + timedelta(hours=2)).isoformat(),
        body="Brief interruptions.",
    )
    scheduled = mail_to(inbox, dora, title)
    assert scheduled["Subject"] == f"Acme Corp maintenance scheduled: {title}"
    assert "From 2031-05-04 22:00 UTC to 2031-05-05 00:00 UTC" in parts(scheduled)["text/plain"]
    update(live, world.alice, window, "IN_PROGRESS", "Started early.")
    assert mail_to(inbox, dora, f"maintenance in progress: {title}")["List-Unsubscribe"]
    assert [r.reason for r in queued(test_db, dora, title)] == ["status.maintenance", "status.maintenance"]


def test_a_window_that_starts_by_itself_is_mailed_too(
    live: f.LiveApp, client: httpx.Client, smtp: tuple[Inbox, int], world: World
) -> None:
    inbox, _ = smtp
    max_ = unique("max")
    subscribed(client, inbox, max_, ip="10.4.0.2")
    title = f"Network works {uuid.uuid4().hex[:6]}"
    began = datetime.now(UTC) - timedelta(minutes=1)
    bulletin(
        live,
        world.alice,
        title,
        kind="MAINTENANCE",
        phase="SCHEDULED",
        scheduledStart=began.isoformat(),
        scheduledEnd=(began + timedelta(days=1)).isoformat(),
    )
    started = mail_to(inbox, max_, f"Acme Corp maintenance in progress: {title}")
    assert "The maintenance window has started." in parts(started)["text/plain"]


def test_an_address_that_is_no_mailbox_does_not_undo_a_bulletin(
    live: f.LiveApp, client: httpx.Client, smtp: tuple[Inbox, int], world: World, test_db: TestDatabase
) -> None:
    inbox, _ = smtp
    nina = unique("nina")
    subscribed(client, inbox, nina, ip="10.4.0.3")
    f.owner_sql(  # as an import from elsewhere might have written it
        test_db,
        "INSERT INTO status_subscribers (tenant_id, id, email, all_services, created_at, confirmed_at)"
        " SELECT id, gen_random_uuid(), 'no mailbox', true, now(), now() FROM tenants WHERE slug = 'acme'",
    )
    try:
        title = f"Despite it {uuid.uuid4().hex[:6]}"
        bulletin(live, world.alice, title)
        assert mail_to(inbox, nina, title)
        assert queued(test_db, "no mailbox") == []
    finally:
        f.owner_sql(test_db, "DELETE FROM status_subscribers WHERE email = 'no mailbox'")


def test_a_page_switched_off_mails_nobody(
    live: f.LiveApp, client: httpx.Client, smtp: tuple[Inbox, int], world: World, test_db: TestDatabase
) -> None:
    inbox, _ = smtp
    erin = unique("erin")
    subscribed(client, inbox, erin, ip="10.5.0.1", slug="initech")
    f.owner_sql(test_db, "UPDATE tenants SET public_status_page = false WHERE slug = 'initech'")
    try:
        title = f"Quiet {uuid.uuid4().hex[:6]}"
        bulletin(live, world.ivan, title)
        assert queued(test_db, erin, title) == []
        assert subscribe(client, unique("late"), ip="10.5.0.2", slug="initech").status_code == 404
    finally:
        f.owner_sql(test_db, "UPDATE tenants SET public_status_page = true WHERE slug = 'initech'")


# ---------------------------------------------------------------- no answer tells an address's state


def test_new_pending_and_subscribed_addresses_read_the_same_answer(
    live: f.LiveApp, client: httpx.Client, smtp: tuple[Inbox, int], test_db: TestDatabase
) -> None:
    inbox, _ = smtp
    new, pending, following = unique("new"), unique("pending"), unique("following")
    assert subscribe(client, pending, ip="10.6.0.1").status_code == 200
    subscribed(client, inbox, following, ip="10.6.0.1")

    answers = [subscribe(client, address, ip="10.6.0.2") for address in (new, pending, following)]
    assert {a.status_code for a in answers} == {200}
    assert answers[0].text == answers[1].text == answers[2].text
    headers = [{k: v for k, v in a.headers.items() if k not in {"date", "x-request-id"}} for a in answers]
    assert headers[0] == headers[1] == headers[2]
    graphql = [
        subscribe_over_graphql(live, "10.6.0.3", tenantSlug="acme", email=address)
        for address in (new, pending, following)
    ]
    assert graphql == [{"accepted": True, "userErrors": []}] * 3

    # Only the mailbox learns which it was.
    assert [r.reason for r in queued(test_db, following)] == [
        "status.subscription_confirm",
        "status.subscription_active",
        "status.subscription_active",
    ]
    told = mail_to(inbox, following, "You already receive Acme Corp status updates")
    assert "nothing has changed" in parts(told)["text/plain"] and told["List-Unsubscribe"]
    assert {r.reason for r in queued(test_db, pending)} == {"status.subscription_confirm"}
    assert len(queued(test_db, pending)) == 3
    assert subscriber(test_db, following).confirmed_at is not None  # still following


# ---------------------------------------------------------------- rate limits


def test_subscribing_is_limited_per_address(
    live: f.LiveApp, client: httpx.Client, test_db: TestDatabase
) -> None:
    fay = unique("fay")
    for n in range(PER_ADDRESS):
        assert subscribe(client, fay, ip=f"10.7.0.{n + 1}").status_code == 200
    refused = subscribe(client, fay.upper(), ip="10.7.1.1")  # the same mailbox, however it is typed
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert "too many subscription requests for this address" in refused.text.lower()
    payload = subscribe_over_graphql(live, "10.7.1.2", tenantSlug="acme", email=fay)
    assert payload["accepted"] is False
    assert payload["userErrors"] == [
        {
            "field": ["input", "email"],
            "message": payload["userErrors"][0]["message"],
            "code": "LIMIT_EXCEEDED",
        }
    ]
    assert len(queued(test_db, fay)) == PER_ADDRESS
    # Another address from those clients goes on.
    assert subscribe(client, unique("gus"), ip="10.7.1.1").status_code == 200


def test_subscribing_is_limited_per_client(
    live: f.LiveApp, client: httpx.Client, test_db: TestDatabase
) -> None:
    addresses = [unique(f"hal{n}") for n in range(PER_CLIENT + 1)]
    for address in addresses[:PER_CLIENT]:
        assert subscribe(client, address, ip="10.8.0.1").status_code == 200
    refused = subscribe(client, addresses[-1], ip="10.8.0.1")
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert "too many subscription requests for this client" in refused.text.lower()
    assert subscriber(test_db, addresses[-1]) is None and queued(test_db, addresses[-1]) == []
    payload = subscribe_over_graphql(live, "10.8.0.1", tenantSlug="acme", email=addresses[-1])
    assert payload["accepted"] is False and payload["userErrors"][0]["code"] == "LIMIT_EXCEEDED"
    assert payload["userErrors"][0]["field"] is None
    assert subscribe(client, addresses[-1], ip="10.8.0.2").status_code == 200  # another client


# ---------------------------------------------------------------- refusals


def test_bad_input_is_refused_with_nothing_written(
    live: f.LiveApp, client: httpx.Client, test_db: TestDatabase
) -> None:
    before = f.owner_sql(test_db, "SELECT count(*) FROM status_subscribers")[0][0]
    mails = f.owner_sql(test_db, "SELECT count(*) FROM outgoing_mails")[0][0]
    for address in (
        "not-an-address",
        "two@example.com, three@example.com",
        "nul\x00@example.com",
        "a b@example.com",
        "",
    ):
        answer = subscribe(client, address, ip="10.9.0.1")
        assert answer.status_code == 400 and "Please give one email address" in answer.text, address
    unknown = subscribe(client, unique("ida"), "mail", "no-such-service", ip="10.9.0.2")
    assert unknown.status_code == 400 and "not on this page any more" in unknown.text
    garbage = client.post(
        "/status/acme/subscribe",
        content=b"--x\r\nbroken",
        headers={"content-type": "multipart/form-data; boundary=x", "x-forwarded-for": "10.9.0.3"},
    )
    assert garbage.status_code == 400

    absent = client.get("/status/nowhere")
    for slug in ("nowhere", "hooli"):  # unknown, and a tenant without a public page: the same 404
        for answer in (
            subscribe(client, unique("jo"), ip="10.9.0.4", slug=slug),
            client.get(f"/status/{slug}/subscription/confirm?token=x"),
            client.get(f"/status/{slug}/unsubscribe?token=x"),
            client.post(f"/status/{slug}/unsubscribe?token=x"),
        ):
            assert answer.status_code == 404 and answer.content == absent.content

    cases: list[tuple[dict[str, Any], list[str], str]] = [
        ({"tenantSlug": "nowhere", "email": unique("kim")}, ["input", "tenantSlug"], "NOT_FOUND"),
        ({"tenantSlug": "hooli", "email": unique("kim")}, ["input", "tenantSlug"], "NOT_FOUND"),
        ({"tenantSlug": "acme", "email": "kim at example"}, ["input", "email"], "INVALID"),
        ({"tenantSlug": "acme", "email": "k\x00im@example.com"}, ["input", "email"], "INVALID"),
        ({"tenantSlug": "acme", "email": unique("kim"), "services": []}, ["input", "services"], "INVALID"),
        (
            {"tenantSlug": "acme", "email": unique("kim"), "services": ["mail", "nope\x00"]},
            ["input", "services", "1"],
            "NOT_FOUND",
        ),
        (
            {"tenantSlug": "acme", "email": unique("kim"), "services": ["mail"] * 101},
            ["input", "services"],
            "LIMIT_EXCEEDED",
        ),
    ]
    for n, (fields, path, code) in enumerate(cases):
        payload = subscribe_over_graphql(live, f"10.9.1.{n}", **fields)
        assert payload["accepted"] is False, fields
        assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [(path, code)], payload
    assert f.owner_sql(test_db, "SELECT count(*) FROM status_subscribers")[0][0] == before
    assert f.owner_sql(test_db, "SELECT count(*) FROM outgoing_mails")[0][0] == mails


def test_expired_tampered_and_foreign_links_are_refused(
    live: f.LiveApp,
    client: httpx.Client,
    smtp: tuple[Inbox, int],
    settings: Settings,
    world: World,
    test_db: TestDatabase,
) -> None:
    inbox, _ = smtp
    liz = unique("liz")
    assert subscribe(client, liz, ip="10.10.0.1").status_code == 200
    confirmation = mail_to(inbox, liz, "Confirm your subscription")
    confirm = token_of(link_in(confirmation, "subscription/confirm"))
    unsubscribe = token_of(link_in(confirmation, "unsubscribe"))
    row = subscriber(test_db, liz)
    data = {"tenant": str(row.tenant_id), "subscriber": str(row.id)}

    expired = SignedEarlier(settings, hours=49).token(CONFIRM, data)
    answer = client.get(f"/status/acme/subscription/confirm?token={expired}")
    assert answer.status_code == 400 and "This link has expired" in answer.text
    fresh_enough = SignedEarlier(settings, hours=47).token(CONFIRM, data)
    tampered = confirm[:-3] + ("AAA" if not confirm.endswith("AAA") else "BBB")
    for token in (tampered, unsubscribe, "", "x" * 5000):  # an unsubscribe link is no confirmation
        answer = client.get("/status/acme/subscription/confirm", params={"token": token})
        assert answer.status_code == 400 and "This link is not valid" in answer.text, token[:20]
    for token in (confirm, unsubscribe[:-3] + "AAA"):
        answer = client.post("/status/acme/unsubscribe", params={"token": token})
        assert answer.status_code == 400 and "This link is not valid" in answer.text
    # Another page's links do nothing here: globex has a page too.
    assert client.get(f"/status/globex/subscription/confirm?token={confirm}").status_code == 400
    assert client.post(f"/status/globex/unsubscribe?token={unsubscribe}").status_code == 400
    assert client.get(f"/status/globex/unsubscribe?token={unsubscribe}").status_code == 400
    assert subscriber(test_db, liz).confirmed_at is None and subscriber(test_db, liz).unsubscribed_at is None

    assert client.get(f"/status/acme/subscription/confirm?token={fresh_enough}").status_code == 200
    # The unsubscribe page asks first: opening it (as a mail scanner does) changes nothing.
    asked = client.get(f"/status/acme/unsubscribe?token={unsubscribe}")
    assert asked.status_code == 200
    assert f'<form method="post" action="/status/acme/unsubscribe?token={unsubscribe}">' in asked.text
    assert subscriber(test_db, liz).unsubscribed_at is None
    title = f"Still told {uuid.uuid4().hex[:6]}"
    bulletin(live, world.alice, title)
    assert len(queued(test_db, liz, title)) == 1
