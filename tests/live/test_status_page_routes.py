"""The status page's routes over real HTTP: the page (uptime bars, notices, maintenance, the last 14
days), the Atom and RSS feeds, the JSON summary and the SVG badge; only public information on any of
them, ETags and 304s, and the same 404 for a tenant without a public page as for an unknown slug."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from html.parser import HTMLParser
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import pytest_asyncio

from domain.bulletins import service as bulletins
from domain.bulletins.phases import BulletinKind, BulletinPhase, ServiceStatus
from domain.db import Database
from domain.settings import Settings
from domain.tenancy.roles import Role
from tests import factories as f
from tests.conftest import TestDatabase
from tests.live.status_history import write_history

ZONE = ZoneInfo("Europe/Berlin")
ATOM = "{http://www.w3.org/2005/Atom}"
ROUTES = ["", "/feed.atom", "/feed.rss", "/summary.json", "/badge.svg"]


@dataclass
class World:
    mail: uuid.UUID
    web: uuid.UUID
    outage_day: str  # the local day of Mail's hour of major outage
    degraded_day: str  # the local day of Mail's half hour of degraded performance


@pytest.fixture(scope="module")
def settings(test_db: TestDatabase) -> Settings:
    return f.settings_for(test_db)


def local(days_ago: int, hour: int, minute: int = 0) -> datetime:
    today = datetime.now(ZONE).date()
    day = today - timedelta(days=days_ago)
    return datetime.combine(day, time(hour, minute), ZONE).astimezone(UTC)


@pytest_asyncio.fixture(scope="module")
async def world(db: Database) -> World:
    acme = await f.create_tenant(
        db, "acme", name="Acme Corp", timezone="Europe/Berlin", public_status_page=True
    )
    await f.create_tenant(db, "globex", name="Globex")  # no public page
    manager = f.actor("mary", {acme.id: Role.MANAGER})
    agent = f.actor("alice", {acme.id: Role.AGENT})
    mail = await f.create_service(db, manager, acme.id, "Mail")
    web = await f.create_service(db, manager, acme.id, "Web <b>&</b>")
    await write_history(
        db,
        acme.id,
        mail.id,
        created_at=datetime.now(UTC) - timedelta(days=30),
        changes=[
            (local(5, 12), ServiceStatus.MAJOR_OUTAGE),
            (local(5, 13), ServiceStatus.OPERATIONAL),
            (local(3, 9), ServiceStatus.DEGRADED_PERFORMANCE),
            (local(3, 9, 30), ServiceStatus.OPERATIONAL),
        ],
    )

    async def create(**fields: Any) -> uuid.UUID:
        [row] = await bulletins.create_bulletin(
            db,
            agent,
            bulletins.NewBulletin(tenant_ids=[acme.id], **fields),  # type: ignore[arg-type]
        )
        return row.id

    resolved = await create(
        kind=BulletinKind.INCIDENT,
        title="Mail delays",
        body="Mail & <queue> delayed",
        phase=BulletinPhase.INVESTIGATING,
        affected=[bulletins.Affected(mail.id, ServiceStatus.MAJOR_OUTAGE)],
        publish=True,
    )
    await bulletins.post_bulletin_update(
        db, agent, bulletins.NewUpdate(resolved, BulletinPhase.RESOLVED, "Mail flows again.")
    )
    await create(
        kind=BulletinKind.INCIDENT,
        title="Web is down",
        body="Nobody can sign in.",
        phase=BulletinPhase.INVESTIGATING,
        affected=[bulletins.Affected(web.id, ServiceStatus.MAJOR_OUTAGE)],
        publish=True,
    )
    start = datetime.now(UTC) + timedelta(days=2)
    await create(
        kind=BulletinKind.MAINTENANCE,
        title="Database upgrade",
        body="Brief interruptions expected.",
        phase=BulletinPhase.SCHEDULED,
        scheduled_start=start,
        scheduled_end=start + timedelta(hours=1),
        publish=True,
    )
    await create(
        kind=BulletinKind.INCIDENT,
        title="Secret draft",
        body="internal only",
        phase=BulletinPhase.INVESTIGATING,
        publish=False,
    )
    return World(
        mail.id,
        web.id,
        outage_day=(datetime.now(ZONE).date() - timedelta(days=5)).isoformat(),
        degraded_day=(datetime.now(ZONE).date() - timedelta(days=3)).isoformat(),
    )


@pytest.fixture(scope="module")
def client(test_db: TestDatabase, settings: Settings, world: World) -> Iterator[httpx.Client]:
    with f.app_server(test_db, settings) as live, httpx.Client(base_url=live.url) as client:
        yield client


@dataclass
class ServiceRow:
    slug: str
    status: str = ""
    days: list[dict[str, str]] = field(default_factory=list)
    percent: str = ""


class PageParser(HTMLParser):
    """The services list of a rendered page: each service's status, day bars and uptime figure."""

    def __init__(self) -> None:
        super().__init__()
        self.services: list[ServiceRow] = []
        self._in_percent = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "li" and "data-service-slug" in a:
            self.services.append(ServiceRow(a["data-service-slug"]))
        elif tag == "span" and a.get("class") == "status" and self.services and not self.services[-1].status:
            self.services[-1].status = a["data-status"]
        elif tag == "li" and a.get("class") == "day":
            self.services[-1].days.append(a)
        elif tag == "span" and a.get("class") == "percent":
            self._in_percent = True

    def handle_data(self, data: str) -> None:
        if self._in_percent:
            self.services[-1].percent += data

    def handle_endtag(self, tag: str) -> None:
        self._in_percent = False


def test_the_page_shows_uptime_bars_notices_maintenance_and_history(
    client: httpx.Client, world: World
) -> None:
    response = client.get("/status/acme")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    parser = PageParser()
    parser.feed(response.text)
    by_slug = {s.slug: s for s in parser.services}
    mail = by_slug["mail"]
    assert len(mail.days) == 90 and all(len(s.days) == 90 for s in parser.services)
    days = {d["data-day"]: d for d in mail.days}
    assert days[world.outage_day]["data-status"] == "MAJOR_OUTAGE"
    assert "Major outage: 60 min" in days[world.outage_day]["title"]
    assert days[world.degraded_day]["data-status"] == "DEGRADED_PERFORMANCE"
    assert "Degraded performance: 30 min" in days[world.degraded_day]["title"]
    assert mail.days[0]["data-status"] == "NO_DATA"  # before the service existed
    assert mail.days[-1]["data-day"] > world.degraded_day > world.outage_day
    assert mail.days[-1]["data-status"] == "MAJOR_OUTAGE"  # the incident of today, resolved since
    assert mail.percent.startswith("99.") and mail.percent.endswith("%")
    assert mail.status == "OPERATIONAL"
    [web] = [s for s in parser.services if s.slug != "mail"]
    assert web.status == "MAJOR_OUTAGE"
    # Names are escaped, never markup.
    assert "Web &lt;b&gt;&amp;&lt;/b&gt;" in response.text and "<b>&</b>" not in response.text
    notices, rest = response.text.split('id="notices"', 1)[1].split('id="maintenance"', 1)
    maintenance, history = rest.split('id="history"', 1)
    assert "Web is down" in notices and "Mail delays" not in notices
    assert "Database upgrade" in maintenance
    assert "Mail delays" in history and "Mail flows again." in history
    assert "Mail &amp; &lt;queue&gt; delayed" in history
    assert "Secret draft" not in response.text and "internal only" not in response.text


def test_the_atom_feed_carries_the_public_updates_newest_first(client: httpx.Client) -> None:
    response = client.get("/status/acme/feed.atom")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = ET.fromstring(response.content)
    assert feed.tag == f"{ATOM}feed"
    assert feed.findtext(f"{ATOM}title") == "Acme Corp status"
    entries = feed.findall(f"{ATOM}entry")
    titles = [e.findtext(f"{ATOM}title") for e in entries]
    assert sorted(titles) == sorted(
        [
            "Mail delays: Investigating",
            "Mail delays: Resolved",
            "Web is down: Investigating",
            "Database upgrade: Scheduled",
        ]
    )
    stamps = [e.findtext(f"{ATOM}updated") or "" for e in entries]
    assert stamps == sorted(stamps, reverse=True)
    assert feed.findtext(f"{ATOM}updated") == stamps[0]
    bodies = {e.findtext(f"{ATOM}content") for e in entries}
    assert "Mail & <queue> delayed" in bodies and "internal only" not in bodies
    ids = [e.findtext(f"{ATOM}id") or "" for e in entries]
    assert len(set(ids)) == 4 and all(i.startswith("urn:uuid:") for i in ids)
    link = entries[0].find(f"{ATOM}link")
    assert link is not None and link.get("href", "").startswith(
        str(client.base_url) + "/status/acme#bulletin-"
    )


def test_the_rss_feed_carries_the_same_updates(client: httpx.Client) -> None:
    response = client.get("/status/acme/feed.rss")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/rss+xml")
    rss = ET.fromstring(response.content)
    assert rss.tag == "rss" and rss.get("version") == "2.0"
    items = rss.findall("channel/item")
    assert len(items) == 4
    assert "Mail & <queue> delayed" in {i.findtext("description") for i in items}
    assert "Secret draft" not in response.text
    assert all((i.findtext("pubDate") or "").endswith("GMT") for i in items)


def test_the_summary_says_the_overall_indicator_services_incidents_and_maintenance(
    client: httpx.Client,
) -> None:
    response = client.get("/status/acme/summary.json")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    summary = response.json()
    assert summary["page"]["name"] == "Acme Corp" and summary["page"]["slug"] == "acme"
    assert summary["status"] == {"indicator": "MAJOR_OUTAGE", "description": "Major outage"}
    services = {s["slug"]: s for s in summary["services"]}
    assert services["mail"]["status"] == "OPERATIONAL" and 99 < services["mail"]["uptime_90_days"] < 100
    assert [i["title"] for i in summary["incidents"]] == ["Web is down"]
    [maintenance] = summary["maintenance"]
    assert maintenance["title"] == "Database upgrade" and maintenance["phase"] == "SCHEDULED"
    assert maintenance["scheduled_start"] is not None
    assert "Secret draft" not in response.text and "internal only" not in response.text


def test_the_badge_shows_the_overall_status(client: httpx.Client) -> None:
    response = client.get("/status/acme/badge.svg")
    assert response.status_code == 200 and response.headers["content-type"].startswith("image/svg+xml")
    svg = ET.fromstring(response.content)
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    assert svg.findtext("{http://www.w3.org/2000/svg}title") == "Acme Corp status: Major outage"


@pytest.mark.parametrize("route", ROUTES)
def test_every_route_has_a_strong_etag_and_answers_304_when_it_matches(
    client: httpx.Client, route: str
) -> None:
    # The page's bars count today's minutes, so its body may change between two requests a minute
    # apart: a 200 with a new tag is then the right answer, and the next revalidation is asked.
    tag = client.get(f"/status/acme{route}").headers["etag"]
    for _ in range(5):
        assert tag.startswith('"') and not tag.startswith("W/")
        again = client.get(f"/status/acme{route}", headers={"If-None-Match": f'"other", W/{tag}'})
        if again.status_code == 304:
            assert again.content == b"" and again.headers["etag"] == tag
            assert again.headers["cache-control"] in {"no-cache", "public, max-age=60"}
            return
        assert again.status_code == 200 and again.headers["etag"] != tag
        tag = again.headers["etag"]
    raise AssertionError(f"{route}: never revalidated")


def test_feeds_summary_and_badge_may_be_cached_briefly(client: httpx.Client) -> None:
    for route in ROUTES[1:]:
        assert client.get(f"/status/acme{route}").headers["cache-control"] == "public, max-age=60"
    assert client.get("/status/acme").headers["cache-control"] == "no-cache"


@pytest.mark.parametrize("route", ROUTES)
def test_a_tenant_without_a_public_page_is_not_found_like_an_unknown_slug(
    client: httpx.Client, route: str
) -> None:
    hidden, unknown = client.get(f"/status/globex{route}"), client.get(f"/status/no-such-tenant{route}")
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.content == unknown.content
    skip = {"date", "content-length", "x-request-id"}  # what differs between any two answers
    assert {k: v for k, v in hidden.headers.items() if k not in skip} == {
        k: v for k, v in unknown.headers.items() if k not in skip
    }
    assert "Globex" not in hidden.text
