"""Shared by the incident practice tests and the stories: a provider with its customers, their people and
tokens, GraphQL calls by mutation name, and a fingerprint of every incident table to prove that a refused
mutation wrote nothing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, text

from domain.db import Database
from domain.settings import Settings
from domain.tenancy.roles import Role
from tests import factories as f

INCIDENT = """
id number title status version major priority impact urgency category assignee assignmentGroup workaround
onHoldReason respondedAt resolvedAt closedAt vendor vendorTicket escalatedToManagers cancelReason
timeSpentMinutes reportedBy
resolution { code notes resolvedBy }
satisfaction { score comment }
tasks { id title done }
responders { subject role }
model { id name }
"""

INPUTS: dict[str, str] = {
    "reportIncident": "ReportIncidentInput",
    "classifyIncident": "ClassifyIncidentInput",
    "assignIncident": "AssignIncidentInput",
    "acknowledgeIncident": "IncidentRefInput",
    "addComment": "CommentInput",
    "putIncidentOnHold": "PutOnHoldInput",
    "resumeIncident": "IncidentRefInput",
    "applyWorkaround": "WorkaroundInput",
    "escalateIncident": "EscalateInput",
    "resolveIncident": "ResolveInput",
    "reopenIncident": "ReopenInput",
    "closeIncident": "IncidentRefInput",
    "cancelIncident": "CancelInput",
    "rateIncident": "RateInput",
    "linkIncidents": "LinkInput",
    "unlinkIncident": "UnlinkInput",
    "declareMajorIncident": "DeclareMajorInput",
    "addResponder": "AddResponderInput",
    "affectTenants": "AffectTenantsInput",
    "createIncidentModel": "IncidentModelInput",
    "applyIncidentModel": "ApplyModelInput",
    "setTask": "SetTaskInput",
    "logWork": "LogWorkInput",
    "saveIncidentReview": "ReviewInput",
}

REVIEW = """
id summary rootCause whatWentWell whatWentWrong published publishedBy updatedAt
actionItems { id title owner dueDate done problemRef }
incident { id number }
"""

MODEL = """
id name description matchCategory matchKeywords category impact urgency assignmentGroup workaround tasks
tenant { slug } matchService { id name }
"""


def selection(name: str) -> str:
    if name in ("linkIncidents", "affectTenants"):
        return f"incidents {{ {INCIDENT} }}"
    if name == "addComment":
        return "event { id kind visibility actor message incident { id status version } }"
    if name == "createIncidentModel":
        return f"model {{ {MODEL} }}"
    if name == "saveIncidentReview":
        return f"review {{ {REVIEW} }}"
    return f"incident {{ {INCIDENT} }}"


def mutation(name: str) -> str:
    return (
        f"mutation($input: {INPUTS[name]}!) {{ {name}(input: $input) {{ {selection(name)}"
        " userErrors { field message code } } }"
    )


def call(live: f.LiveApp, token: str, name: str, /, **input: Any) -> dict[str, Any]:
    """Run mutation ``name`` with ``input``; its payload (no top-level errors allowed)."""
    payload: dict[str, Any] = live.gql_ok(token, mutation(name), {"input": input})[name]
    return payload


def ok(live: f.LiveApp, token: str, name: str, /, **input: Any) -> dict[str, Any]:
    """Run mutation ``name`` and insist it was accepted; its payload."""
    payload = call(live, token, name, **input)
    assert payload["userErrors"] == [], payload["userErrors"]
    return payload


# Every table a mutation of the practice may write. A refusal must leave all of them as they were.
WRITTEN_TABLES = (
    "incidents",
    "incident_events",
    "incident_links",
    "responders",
    "incident_tasks",
    "work_log",
    "incident_models",
    "incident_reviews",
    "review_action_items",
    "tenant_counters",
)


def fingerprint(owner: Engine) -> dict[str, str]:
    """A digest of every row of the practice's tables (read as the owner, which row-level security does
    not restrict)."""
    parts = ", ".join(
        f"(SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t) AS {table}"
        for table in WRITTEN_TABLES
    )
    with owner.connect() as connection:
        row = connection.execute(text(f"SELECT {parts}")).mappings().one()
    return dict(row)


def refused(
    live: f.LiveApp,
    owner: Engine,
    token: str,
    name: str,
    code: str,
    field: list[str] | None = None,
    /,
    **input: Any,
) -> dict[str, Any]:
    """Run mutation ``name`` and insist it was refused with ``code`` (and ``field`` when given), without
    a top-level error and without writing anything. Returns the one user error."""
    before = fingerprint(owner)
    payload = call(live, token, name, **input)
    after = fingerprint(owner)
    errors = payload["userErrors"]
    assert len(errors) == 1, payload
    error: dict[str, Any] = errors[0]
    assert error["code"] == code, error
    if field is not None:
        assert error["field"] == field, error
    assert error["message"]
    assert after == before, f"{name} was refused ({code}) but wrote: {_changed(before, after)}"
    for key, value in payload.items():
        if key != "userErrors":
            assert value in (None, []), payload
    return error


def _changed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return [table for table in before if before[table] != after[table]]


TIMELINE = "timeline(first: 100) { totalCount edges { node { kind visibility actor message data } } }"


def incident(live: f.LiveApp, token: str, incident_id: str, extra: str = "") -> dict[str, Any] | None:
    data = live.gql_ok(
        token,
        f"query($id: ID!) {{ node(id: $id) {{ ... on Incident {{ {INCIDENT} {extra} }} }} }}",
        {"id": incident_id},
    )
    node: dict[str, Any] | None = data["node"]
    return node


def timeline(live: f.LiveApp, token: str, incident_id: str) -> list[dict[str, Any]]:
    node = incident(live, token, incident_id, TIMELINE)
    assert node is not None
    return [edge["node"] for edge in node["timeline"]["edges"]]


def kinds(live: f.LiveApp, token: str, incident_id: str) -> list[str]:
    return [event["kind"] for event in timeline(live, token, incident_id)]


@dataclass
class World:
    """A provider and three customer tenants.

    People (subject: role by tenant):
    carol, cody: CUSTOMER at acme; alice: AGENT at acme; mona: MANAGER at acme and provider;
    nina: AGENT at provider and every customer (the provider's NOC); pete: AGENT at provider only;
    gus: CUSTOMER at globex; ivy: CUSTOMER at initech; sam: AGENT at acme, with a token that may only read.
    """

    provider: uuid.UUID
    acme: uuid.UUID
    globex: uuid.UUID
    initech: uuid.UUID
    tokens: dict[str, str] = field(default_factory=dict)

    def tenant(self, slug: str) -> str:
        return f.encode_id("Tenant", getattr(self, slug))


PEOPLE: dict[str, dict[str, Role]] = {
    "carol": {"acme": Role.CUSTOMER},
    "cody": {"acme": Role.CUSTOMER},
    "alice": {"acme": Role.AGENT},
    "mona": {"acme": Role.MANAGER, "provider": Role.MANAGER},
    "nina": {"provider": Role.AGENT, "acme": Role.AGENT, "globex": Role.AGENT, "initech": Role.AGENT},
    "pete": {"provider": Role.AGENT},
    "gus": {"globex": Role.CUSTOMER},
    "ivy": {"initech": Role.CUSTOMER},
    "sam": {"acme": Role.AGENT},
}


async def seed_world(db: Database, settings: Settings) -> World:
    tenants = {
        slug: (await f.create_tenant(db, slug)).id for slug in ("provider", "acme", "globex", "initech")
    }
    for subject, roles in PEOPLE.items():
        for slug, role in roles.items():
            await f.add_member(db, tenants[slug], subject, role)
    tokens = await f.mint_tokens(settings, db, *PEOPLE)
    tokens["sam"] = await f.mint_token(settings, db, "sam", scopes=frozenset({"incidents:read"}))
    return World(**tenants, tokens=tokens)


def report(live: f.LiveApp, token: str, title: str, description: str = "", **extra: Any) -> dict[str, Any]:
    """Report an incident over HTTP; the incident of the payload."""
    payload = ok(live, token, "reportIncident", title=title, description=description or title, **extra)
    reported: dict[str, Any] = payload["incident"]
    return reported
