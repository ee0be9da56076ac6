"""CSV exports of the reports a provider invoices from, streamed as they are read:

- ``GET /reports/{tenant}/work.csv?from=YYYY-MM-DD&to=YYYY-MM-DD&groupBy=AGENT,DAY``: the work report's
  groups (``groupBy`` repeated or comma-separated, in the order given; none gives the total alone);
  needs ``incidents:read``, and a CUSTOMER may not group by AGENT;
- ``GET /reports/{tenant}/sla.csv?from=YYYY-MM-DD&to=YYYY-MM-DD``: the SLA report (a TOTAL row, a row
  per priority) and a row per incident it counts; needs ``sla:read``.

``tenant`` is a slug or a global ID; ``from`` and ``to`` are local days of the tenant's timezone, both
included. Authentication and rights are the API's own: a bearer token, the caller's memberships, the
token's scopes, the per-principal rate limit. Refusals answer before any CSV, as JSON in the API's error
shape: 400 (INVALID, LIMIT_EXCEEDED), 401, 403 (FORBIDDEN), 404 (an unknown tenant or one that is not the
caller's, alike), 429.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from api.billing.csvfile import MEDIA_TYPE, record
from api.billing.types import iso_week
from api.context import Context
from api.graphql_view import unauthorized
from api.limits import PrincipalRateLimit, too_many_requests
from api.tenancy.resolve import resolve_tenant
from auth import Authority, InvalidToken, Principal
from domain.billing.periods import month_label
from domain.billing.report import WorkGroup, WorkGrouping, plan_work_report, stream_work_report
from domain.db import Database
from domain.errors import ErrorCode, Refused, invalid
from domain.incidents.models import display_number
from domain.settings import Settings
from domain.sla.outcomes import IncidentOutcome, plan_sla_export, stream_sla_export
from domain.sla.report import SlaReport

WORK_PATH = "/reports/{tenant}/work.csv"
SLA_PATH = "/reports/{tenant}/sla.csv"
# Records sent per chunk: few enough to stream steadily, enough to keep the writes few.
BATCH = 200

_STATUS = {
    ErrorCode.INVALID: 400,
    ErrorCode.LIMIT_EXCEEDED: 400,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.FORBIDDEN: 403,
}
_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")

WORK_COLUMNS: dict[WorkGrouping, list[str]] = {
    WorkGrouping.AGENT: ["agent"],
    WorkGrouping.INCIDENT: ["incident", "incident_title"],
    WorkGrouping.SERVICE: ["service"],
    WorkGrouping.DAY: ["day"],
    WorkGrouping.WEEK: ["week", "week_start"],
    WorkGrouping.MONTH: ["month"],
}
FIGURE_COLUMNS = ["billable_minutes", "non_billable_minutes", "entries"]

SLA_COLUMNS = [
    "row",
    "priority",
    "incident",
    "title",
    "status",
    "reported_at",
    "incidents",
    "breached",
    "response_met",
    "response_compliance_percent",
    "mean_time_to_respond_minutes",
    "resolution_met",
    "resolution_compliance_percent",
    "mean_time_to_resolve_minutes",
    "average_satisfaction",
    "response",
    "response_minutes",
    "resolution",
    "resolution_minutes",
    "satisfaction",
]


def refusal(refused: Refused) -> JSONResponse:
    problem = refused.problems[0]
    extensions: dict[str, object] = {"code": problem.code.value}
    if problem.field:
        extensions["field"] = list(problem.field)
    return JSONResponse(
        {"errors": [{"message": problem.message, "extensions": extensions}]},
        status_code=_STATUS.get(problem.code, 400),
    )


def parse_day(value: str | None, name: str) -> date:
    if value is None:
        raise invalid("is required, as YYYY-MM-DD", name)
    try:
        if not _DAY.match(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise invalid("must be a date written YYYY-MM-DD", name) from None


def parse_groupings(values: list[str]) -> list[WorkGrouping]:
    names = [part.strip().upper() for value in values for part in value.split(",") if part.strip()]
    unknown = [name for name in names if name not in WorkGrouping.__members__]
    if unknown:
        choices = ", ".join(WorkGrouping)
        raise invalid(f"unknown grouping {unknown[0]!r}; choose among {choices}", "groupBy")
    return [WorkGrouping(name) for name in names]


def work_record(group: WorkGroup, chosen: list[WorkGrouping]) -> str:
    cells: list[object] = []
    for grouping in chosen:
        if grouping is WorkGrouping.AGENT:
            cells.append(group.agent)
        elif grouping is WorkGrouping.INCIDENT:
            number = group.incident_number
            cells += [display_number(number) if number is not None else None, group.incident_title]
        elif grouping is WorkGrouping.SERVICE:
            cells.append(group.service_name)
        elif grouping is WorkGrouping.DAY:
            cells.append(group.day)
        elif grouping is WorkGrouping.WEEK:
            cells += [iso_week(group.week) if group.week else None, group.week]
        else:
            cells.append(month_label(group.month) if group.month else None)
    figures = group.figures
    return record([*cells, figures.billable_minutes, figures.non_billable_minutes, figures.entries])


def sla_records(item: SlaReport | IncidentOutcome) -> list[str]:
    def row(**cells: object) -> str:
        return record(cells.get(column) for column in SLA_COLUMNS)

    if isinstance(item, IncidentOutcome):
        return [
            row(
                row="INCIDENT",
                priority=item.priority.value,
                incident=display_number(item.number),
                title=item.title,
                status=item.status.value,
                reported_at=item.reported_at,
                response=item.response.value if item.response else None,
                response_minutes=item.response_minutes,
                resolution=item.resolution.value if item.resolution else None,
                resolution_minutes=item.resolution_minutes,
                satisfaction=item.satisfaction,
            )
        ]
    lines = [
        row(
            row="TOTAL",
            incidents=item.incidents,
            response_compliance_percent=item.response_compliance_percent,
            mean_time_to_respond_minutes=item.mean_time_to_respond_minutes,
            resolution_compliance_percent=item.resolution_compliance_percent,
            mean_time_to_resolve_minutes=item.mean_time_to_resolve_minutes,
            average_satisfaction=item.average_satisfaction,
        )
    ]
    for figures in item.by_priority:
        lines.append(
            row(
                row="PRIORITY",
                priority=figures.priority.value,
                incidents=figures.incidents,
                breached=figures.breached,
                response_met=figures.response_met,
                response_compliance_percent=figures.response_compliance_percent,
                mean_time_to_respond_minutes=figures.mean_time_to_respond_minutes,
                resolution_met=figures.resolution_met,
                resolution_compliance_percent=figures.resolution_compliance_percent,
                mean_time_to_resolve_minutes=figures.mean_time_to_resolve_minutes,
            )
        )
    return lines


async def _batched(header: list[str], lines: AsyncIterator[list[str]]) -> AsyncIterator[str]:
    pending = [record(header)]
    async for more in lines:
        pending += more
        if len(pending) >= BATCH:
            yield "".join(pending)
            pending = []
    if pending:
        yield "".join(pending)


def _csv(name: str, header: list[str], lines: AsyncIterator[list[str]]) -> StreamingResponse:
    return StreamingResponse(
        _batched(header, lines),
        media_type=MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


Export = Callable[[Request, Context, Principal], Awaitable[Response]]


class ReportExports:
    def __init__(
        self, settings: Settings, db: Database, authority: Authority, rate_limit: PrincipalRateLimit
    ) -> None:
        self.settings = settings
        self.db = db
        self.authority = authority
        self.rate_limit = rate_limit

    def routes(self) -> list[Route]:
        return [
            Route(WORK_PATH, self._guarded(self.work), methods=["GET"], name="work_csv"),
            Route(SLA_PATH, self._guarded(self.sla), methods=["GET"], name="sla_csv"),
        ]

    def _guarded(self, export: Export) -> Callable[[Request], Awaitable[Response]]:
        """Authenticate as the API does, then run the export; a refusal answers before any CSV."""

        async def endpoint(request: Request) -> Response:
            try:
                principal = await self.authority.authenticate(request.headers.get("authorization"))
            except InvalidToken:
                return unauthorized()
            if principal is None:
                return unauthorized("an access token is required")
            allowed, retry_after = await self.rate_limit.admit(principal, None)
            if not allowed:
                return too_many_requests(retry_after)
            ctx = Context(
                settings=self.settings, db=self.db, principal=principal, tenant_ids=principal.tenant_ids
            )
            try:
                return await export(request, ctx, principal)
            except Refused as refused:
                return refusal(refused)

        return endpoint

    async def work(self, request: Request, ctx: Context, principal: Principal) -> Response:
        tenant_id = await resolve_tenant(ctx, request.path_params["tenant"], "tenant")
        params = request.query_params
        query = plan_work_report(
            principal,
            tenant_id=tenant_id,
            start=parse_day(params.get("from"), "from"),
            end=parse_day(params.get("to"), "to"),
            group_by=parse_groupings(params.getlist("groupBy")),
        )
        chosen = list(query.group_by)
        header = [column for grouping in chosen for column in WORK_COLUMNS[grouping]] + FIGURE_COLUMNS

        async def lines() -> AsyncIterator[list[str]]:
            async for group in stream_work_report(self.db, principal, query):
                yield [work_record(group, chosen)]

        return _csv(f"work-{query.start}-{query.end}.csv", header, lines())

    async def sla(self, request: Request, ctx: Context, principal: Principal) -> Response:
        tenant_id = await resolve_tenant(ctx, request.path_params["tenant"], "tenant")
        params = request.query_params
        query = plan_sla_export(
            principal,
            tenant_id=tenant_id,
            start=parse_day(params.get("from"), "from"),
            end=parse_day(params.get("to"), "to"),
        )

        async def lines() -> AsyncIterator[list[str]]:
            async for item in stream_sla_export(self.db, principal, query):
                yield sla_records(item)

        return _csv(f"sla-{query.start}-{query.end}.csv", SLA_COLUMNS, lines())
