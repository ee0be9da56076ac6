"""The demo: tenants, people, services and incidents to explore the API with, and tokens to do it.

Seeding is idempotent: tenants are found by slug, memberships and operators are upserts, services are
created only when missing, and a tenant's incidents are seeded only while it has none. Running it again
changes nothing but prints fresh tokens.

Everything goes through the domain's use cases as the people themselves: each acts with the principal
its own token resolves to, the same path a request takes. Each step is a small function, so that later
features (SLA contracts, bulletins) add theirs beside the others.
"""

from __future__ import annotations

import json
import shlex
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from api import demo_work
from api.demo_status import DEMO_SUBSCRIBER, seed_status_news
from api.demo_stories import Cast, seed_incidents
from auth import Authority, Principal
from domain.catalog.reads import service_ids_by_name
from domain.catalog.service import create_service
from domain.columns import utcnow
from domain.db import Database, Scope
from domain.incidents.enums import HoldReason, Priority
from domain.mail.links import MailLinks
from domain.sla import service as sla
from domain.sla.service import HoursInput
from domain.tenancy.models import Tenant
from domain.tenancy.roles import Role
from domain.tenancy.service import add_member, add_operator, create_tenant, tenant_by_slug

# Tokens printed by the demo; `incidentdesk demo --ttl` changes it.
DEMO_TOKEN_TTL = 12 * 3600


@dataclass(frozen=True)
class TenantSpec:
    slug: str
    name: str
    timezone: str
    public_status_page: bool = False
    services: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class PersonSpec:
    subject: str
    # Tenant slug -> role; empty for an operator without memberships.
    roles: Mapping[str, Role] = field(default_factory=dict)
    operator: bool = False
    about: str = ""
    # Where their notifications go, in each of their tenants (the demo's mails: `incidentdesk mail list`).
    email: str | None = None


TENANTS: tuple[TenantSpec, ...] = (
    TenantSpec(
        "acme",
        "Acme Corporation",
        "Europe/Berlin",
        public_status_page=True,
        services=(
            ("Web shop", "The customer-facing online store"),
            ("Payments", "Card and invoice payments"),
            ("Customer login", "Single sign-on for shop customers"),
        ),
    ),
    TenantSpec(
        "globex",
        "Globex Inc.",
        "America/New_York",
        services=(
            ("Corporate VPN", "Remote access for Globex staff"),
            ("E-mail", "Hosted mailboxes and delivery"),
        ),
    ),
    TenantSpec(
        "provider",
        "Provider Operations",
        "UTC",
        services=(
            ("Network", "Data centre and transit connectivity"),
            ("Hosting platform", "Shared compute and storage for all customers"),
        ),
    ),
)

_ALL = {spec.slug: spec for spec in TENANTS}

PEOPLE: tuple[PersonSpec, ...] = (
    PersonSpec("carol@acme", {"acme": Role.CUSTOMER}, about="a customer at Acme", email="carol@acme.example"),
    PersonSpec(
        "alice", dict.fromkeys(_ALL, Role.AGENT), about="a service desk agent", email="alice@provider.example"
    ),
    PersonSpec(
        "mallory",
        dict.fromkeys(_ALL, Role.MANAGER),
        about="a service manager",
        email="mallory@provider.example",
    ),
    PersonSpec("root", {}, operator=True, about="a platform operator"),
)

# The examples in the printed curl commands.
INCIDENTS_QUERY = (
    "{ incidents(first: 5) { totalCount edges { node { number title status priority tenant { slug } } } } }"
)
VIEWER_QUERY = "{ viewer { subject isOperator memberships { role tenant { slug name } } } }"
TENANTS_QUERY = "{ tenants(first: 10) { totalCount edges { node { slug name timezone } } } }"


@dataclass
class Seeded:
    tenants: dict[str, Tenant]
    # Subject -> a fresh token of the built-in issuer.
    tokens: dict[str, str]
    # Tenant slug -> how many incidents this run created (0 when the tenant already had some).
    created_incidents: dict[str, int]
    # Tenant slug -> how many bulletins of its public status page this run created.
    created_bulletins: dict[str, int] = field(default_factory=dict)


# ---------------------------------------------------------------- tenants and people


async def ensure_tenant(db: Database, spec: TenantSpec) -> Tenant:
    async with db.transaction(Scope()) as session:
        existing = await tenant_by_slug(session, spec.slug)
    if existing is not None:
        return existing
    return await create_tenant(
        db,
        None,
        slug=spec.slug,
        name=spec.name,
        timezone=spec.timezone,
        public_status_page=spec.public_status_page,
    )


async def ensure_person(db: Database, issuer: str, person: PersonSpec, tenants: Mapping[str, Tenant]) -> None:
    if person.operator:
        await add_operator(db, issuer, person.subject)
    for slug, role in person.roles.items():
        await add_member(
            db,
            None,
            tenant_id=tenants[slug].id,
            issuer=issuer,
            subject=person.subject,
            role=role,
            email=person.email,
        )


async def actor_for(authority: Authority, subject: str, ttl_seconds: int) -> tuple[str, Principal]:
    """A token for ``subject`` and the principal it resolves to, exactly as a request would resolve it."""
    token = await authority.mint(subject, ttl_seconds=ttl_seconds)
    return token, await authority.principal(await authority.verify(token))


# ---------------------------------------------------------------- catalogue


async def ensure_services(
    db: Database, manager: Principal, tenant: Tenant, services: Sequence[tuple[str, str]]
) -> dict[str, uuid.UUID]:
    """The tenant's services by name, creating the ones the spec lists and the tenant lacks."""
    async with db.transaction(Scope.of([tenant.id])) as session:
        existing = await service_ids_by_name(session, tenant_id=tenant.id)
    for name, description in services:
        if name not in existing:
            existing[name] = (
                await create_service(db, manager, tenant_id=tenant.id, name=name, description=description)
            ).id
    return existing


# ---------------------------------------------------------------- SLA contracts

# (response, resolution) minutes per priority: the same ladder for every demo contract.
DEMO_TARGETS = {
    Priority.P1: (15, 240),
    Priority.P2: (30, 480),
    Priority.P3: (120, 1440),
    Priority.P4: (480, 4320),
    Priority.P5: (1440, 10080),
}

# Office hours for customers, round the clock for the provider's own infrastructure.
OFFICE_HOURS = tuple(HoursInput(weekday=day, start="08:00", end="18:00") for day in range(1, 6))
DEMO_CONTRACTS = {
    "acme": ("Acme business support", OFFICE_HOURS, ("2026-12-24", "2026-12-25", "2026-12-26")),
    "globex": ("Globex standard", OFFICE_HOURS, ("2026-12-25",)),
    "provider": ("Provider infrastructure 24x7", (), ()),
}


async def ensure_contract(db: Database, manager: Principal, tenant: Tenant) -> None:
    """Each demo tenant's contract, created only while the tenant has none."""
    spec = DEMO_CONTRACTS.get(tenant.slug)
    if spec is None or await sla.list_contracts(db, manager, [tenant.id]):
        return
    name, hours, holidays = spec
    await sla.create_contract(
        db,
        manager,
        sla.NewContract(
            tenant_id=tenant.id,
            name=name,
            targets=[
                sla.TargetInput(p, response, resolution) for p, (response, resolution) in DEMO_TARGETS.items()
            ],
            timezone=tenant.timezone,
            effective_from=datetime(2026, 1, 1, tzinfo=UTC),
            business_hours=hours,
            holidays=holidays,
            pause_on=(HoldReason.AWAITING_CUSTOMER,),
        ),
    )


# ---------------------------------------------------------------- the whole demo


async def seed(db: Database, authority: Authority, *, ttl_seconds: int = DEMO_TOKEN_TTL) -> Seeded:
    tenants = {spec.slug: await ensure_tenant(db, spec) for spec in TENANTS}
    for person in PEOPLE:
        await ensure_person(db, authority.issuer, person, tenants)
    tokens: dict[str, str] = {}
    principals: dict[str, Principal] = {}
    for person in PEOPLE:
        tokens[person.subject], principals[person.subject] = await actor_for(
            authority, person.subject, ttl_seconds
        )
    created: dict[str, int] = {}
    news: dict[str, int] = {}
    # The links of the demo's mails, signed as the server signs them.
    links = MailLinks.for_settings(authority.settings)
    for spec in TENANTS:
        tenant = tenants[spec.slug]
        services = await ensure_services(db, principals["mallory"], tenant, spec.services)
        await ensure_contract(db, principals["mallory"], tenant)
        customers = [principals[p.subject] for p in PEOPLE if p.roles.get(spec.slug) is Role.CUSTOMER]
        cast = Cast(
            customer=customers[0] if customers else None,
            agent=principals["alice"],
            manager=principals["mallory"],
        )
        created[spec.slug] = await seed_incidents(db, tenant, cast, services)
        news[spec.slug] = await seed_status_news(db, links, tenant, principals["alice"], services)
    return Seeded(tenants=tenants, tokens=tokens, created_incidents=created, created_bulletins=news)


# ---------------------------------------------------------------- what the demo prints


def _variable(subject: str) -> str:
    return subject.split("@")[0].upper() + "_TOKEN"


def _curl(url: str, variable: str, query: str, *headers: str) -> str:
    body = json.dumps({"query": query}, separators=(",", ":"))
    extra = "".join(f" -H {shlex.quote(h)}" for h in headers)
    return (
        f'curl -s {url}/graphql -H "authorization: Bearer ${variable}"'
        f" -H 'content-type: application/json'{extra} -d {shlex.quote(body)}"
    )


def _describe(person: PersonSpec) -> str:
    if person.operator:
        return f"{person.subject}: {person.about}"
    by_role: dict[Role, list[str]] = {}
    for slug, role in person.roles.items():
        by_role.setdefault(role, []).append(slug)
    grants = "; ".join(f"{role.value} of {', '.join(slugs)}" for role, slugs in by_role.items())
    return f"{person.subject}: {person.about}, {grants}"


def render(seeded: Seeded, public_url: str) -> str:
    """Shell lines to paste into a terminal: the tokens as variables, then requests that use them."""
    url = public_url.rstrip("/")
    created = sum(seeded.created_incidents.values())
    lines = [
        "# incidentdesk demo: tenants "
        + ", ".join(f"{t.slug} ({t.name})" for t in seeded.tenants.values())
        + (f"; {created} incidents seeded" if created else "; already seeded, nothing changed"),
        "# Tokens of the built-in issuer; run `incidentdesk demo` again for fresh ones.",
        "",
    ]
    for person in PEOPLE:
        lines.append(f"# {_describe(person)}")
        lines.append(f"export {_variable(person.subject)}={seeded.tokens[person.subject]}")
    lines += [
        "",
        "# The latest incidents alice works on, across acme, globex and provider:",
        _curl(url, "ALICE_TOKEN", INCIDENTS_QUERY),
        "# The same, narrowed to one tenant:",
        _curl(url, "ALICE_TOKEN", INCIDENTS_QUERY, "x-tenant: globex"),
        "# What carol, a customer, sees: acme's incidents only:",
        _curl(url, "CAROL_TOKEN", INCIDENTS_QUERY),
        "# Who am I:",
        _curl(url, "MALLORY_TOKEN", VIEWER_QUERY),
        "# Every tenant, as a platform operator:",
        _curl(url, "ROOT_TOKEN", TENANTS_QUERY),
        *demo_work.render_lines(url, _ALL["acme"].timezone, utcnow()),
        f"# acme's public status page, {url}/status/acme, has bulletins and a subscriber by mail,",
        f"# {DEMO_SUBSCRIBER}: once the server has sent their mails (to the Maildir without an SMTP",
        "# server), `.venv/bin/incidentdesk mail list` lists them.",
        "",
        "# The demo's mails (carol's updates, resolutions and links; mallory watches the checkout incident;"
        " alice's assignment), once `incidentdesk serve` has sent them:",
        "incidentdesk mail list",
        "",
        f"# GraphiQL: open {url}/graphql in a browser and set the header",
        '#   {"authorization": "Bearer <one of the tokens above>"}',
        "",
    ]
    return "\n".join(lines)
