"""The served GraphQL schema: queries, mutations and the request limits around them."""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from typing import Annotated

import strawberry
from graphql import GraphQLError
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from api import fields
from api.billing.mutations import BillingMutations, WorkLogSteps
from api.billing.queries import billing_periods, work_report
from api.billing.types import BillingPeriod, WorkLogEntry, WorkReport, WorkReportGrouping
from api.bulletins.mutations import BulletinMutations
from api.bulletins.queries import bulletin_connection, public_status
from api.bulletins.types import Bulletin, BulletinConnection, PublicStatus
from api.catalog.mutations import CatalogMutations
from api.catalog.queries import service_connection
from api.catalog.types import ServiceConnection
from api.context import Info
from api.cost import QueryCostLimiter, SubscriptionsOverWebSocket
from api.error_log import log_errors
from api.errors import MASKED_MESSAGE, ClientError, MaskServerErrors, should_mask
from api.exposure import AnonymousIntrospection
from api.graphql.documents import Documents, PreparedDocuments
from api.graphql.shared_render import SharedEventRendering
from api.incidents.handling import HandlingMutations, TaskMutations
from api.incidents.major import MajorMutations, MajorSteps
from api.incidents.mutations import IncidentMutations, IncidentSteps
from api.incidents.playbook_mutations import PlaybookMutations
from api.incidents.playbooks import IncidentModel, incident_models
from api.incidents.queries import IncidentFilter, IncidentOrder, incident_by_number, incident_connection
from api.incidents.recurring import RecurringIncidentGroup, RecurringMutations, recurring_incidents
from api.incidents.relations import RelationMutations
from api.incidents.reviews import IncidentReview, ReviewMutations
from api.incidents.types import Incident, IncidentConnection
from api.integrations.mutations import IntegrationMutations
from api.integrations.queries import IntegrationQueries
from api.nodes import resolve_node
from api.notices.mutations import NoticeMutations
from api.permissions import IsAuthenticated
from api.relay import MAX_PAGE, ContractNames, Node, PageRequest
from api.scalars import DateTime
from api.sla.mutations import SlaMutations
from api.sla.queries import sla_contracts, sla_report
from api.sla.trends import TrendBucket, TrendGrouping, TrendInterval, incident_trends
from api.sla.types import SlaContract, SlaReport
from api.status_subscribers.mutations import StatusSubscriberMutations
from api.subscriptions import Subscription
from api.tenancy.mutations import TenancyMutations
from api.tenancy.queries import tenant_connection, viewer
from api.tenancy.resolve import find_tenant_id
from api.tenancy.types import TenantConnection, Viewer
from domain.settings import Settings

AUTH = [IsAuthenticated]


@strawberry.type
class Query(IntegrationQueries):
    @fields.field(permission_classes=AUTH)
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        return await resolve_node(info.context, id)

    @fields.field(permission_classes=AUTH)
    async def nodes(self, info: Info, ids: list[strawberry.ID]) -> list[Node | None]:
        if len(ids) > MAX_PAGE:
            raise ClientError(f"at most {MAX_PAGE} ids", "LIMIT_EXCEEDED")
        # Concurrently, so that the request's DataLoaders batch the lookups: one query per type, not per id.
        return list(await asyncio.gather(*(resolve_node(info.context, i) for i in ids)))

    @fields.field(permission_classes=AUTH)
    async def viewer(self, info: Info) -> Viewer:
        return await viewer(info.context)

    @fields.field(permission_classes=AUTH, description="The caller's tenants; all of them for an operator")
    async def tenants(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> TenantConnection:
        return await tenant_connection(info.context, first, after)

    @fields.field(permission_classes=AUTH)
    async def incidents(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: IncidentFilter | None = None,
        order_by: IncidentOrder | None = None,
    ) -> IncidentConnection:
        request = PageRequest(first=first, after=after, last=last, before=before)
        return await incident_connection(info.context, request, filter, order_by)

    @fields.field(permission_classes=AUTH)
    async def incident_by_number(
        self, info: Info, number: str, tenant: strawberry.ID | None = None
    ) -> Incident | None:
        return await incident_by_number(info.context, tenant, number)

    @fields.field(
        permission_classes=AUTH, description="Incident models of the tenants where the caller is staff"
    )
    async def incident_models(self, info: Info, tenant: strawberry.ID | None = None) -> list[IncidentModel]:
        return await incident_models(info.context, tenant)

    @fields.field(permission_classes=AUTH)
    async def services(
        self,
        info: Info,
        tenant: strawberry.ID | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> ServiceConnection:
        ctx = info.context
        tenants = ctx.tenant_ids
        if tenant is not None:
            chosen = await find_tenant_id(ctx, tenant)
            tenants = tenants & {chosen} if chosen else frozenset()
        return await service_connection(ctx, tenants, first, after)

    @fields.field(
        permission_classes=AUTH,
        description="SLA contracts of the caller's tenants (or the one named), oldest window first; needs sla:read",
    )
    async def sla_contracts(self, info: Info, tenant: strawberry.ID | None = None) -> list[SlaContract]:
        return await sla_contracts(info.context, tenant)

    @fields.field(
        permission_classes=AUTH,
        description="Compliance, MTTA and MTTR of incidents reported in [from, to); CUSTOMER members may read their own",
    )
    async def sla_report(
        self,
        info: Info,
        from_: Annotated[datetime, strawberry.argument(name="from")],
        to: datetime,
        tenant: strawberry.ID | None = None,
    ) -> SlaReport:
        return await sla_report(info.context, tenant, from_, to)

    @fields.field(
        permission_classes=AUTH,
        description=(
            "The SLA report's figures per period (days, ISO weeks or months in the tenant's timezone) of"
            " incidents reported in [from, to), per service, category or priority when grouped; needs sla:read"
        ),
    )
    async def incident_trends(
        self,
        info: Info,
        from_: Annotated[datetime, strawberry.argument(name="from")],
        to: datetime,
        tenant: strawberry.ID | None = None,
        interval: TrendInterval = TrendInterval.WEEK,
        group_by: TrendGrouping | None = None,
    ) -> list[TrendBucket]:
        return await incident_trends(info.context, tenant, from_, to, interval, group_by)

    @fields.field(
        permission_classes=AUTH,
        description=(
            "Groups of similar incidents reported in [from, to) (same service and category, or similar"
            " titles): the candidates for problem management; AGENT"
        ),
    )
    async def recurring_incidents(
        self,
        info: Info,
        from_: Annotated[datetime, strawberry.argument(name="from")],
        to: datetime,
        tenant: strawberry.ID | None = None,
    ) -> list[RecurringIncidentGroup]:
        return await recurring_incidents(info.context, tenant, from_, to)

    @fields.field(
        permission_classes=AUTH,
        description=(
            "Billable and non-billable minutes of work done on the local days from..to (both included, the"
            " tenant's timezone), per group; needs incidents:read; CUSTOMER members may not group by AGENT"
        ),
    )
    async def work_report(
        self,
        info: Info,
        from_: Annotated[date, strawberry.argument(name="from")],
        to: date,
        tenant: strawberry.ID | None = None,
        group_by: list[WorkReportGrouping] | None = None,
    ) -> WorkReport:
        return await work_report(info.context, tenant, from_, to, list(group_by or []))

    @fields.field(
        permission_classes=AUTH,
        description="Closed months of the caller's tenants (or the one named), newest first; staff only",
    )
    async def billing_periods(self, info: Info, tenant: strawberry.ID | None = None) -> list[BillingPeriod]:
        return await billing_periods(info.context, tenant)

    @fields.field(
        permission_classes=AUTH, description="Newest first; CUSTOMER members see published bulletins only"
    )
    async def bulletins(
        self,
        info: Info,
        tenant: strawberry.ID | None = None,
        active_only: bool | None = False,
        first: int | None = None,
        after: str | None = None,
    ) -> BulletinConnection:
        return await bulletin_connection(info.context, tenant, bool(active_only), first, after)

    @fields.field(description="No token needed; null unless the tenant enabled its public status page")
    async def public_status(self, info: Info, tenant_slug: str) -> PublicStatus | None:
        return await public_status(info.context, tenant_slug)


Mutation = merge_types(
    "Mutation",
    (
        TenancyMutations,
        CatalogMutations,
        IncidentMutations,
        IncidentSteps,
        HandlingMutations,
        TaskMutations,
        RelationMutations,
        MajorSteps,
        MajorMutations,
        PlaybookMutations,
        ReviewMutations,
        RecurringMutations,
        IntegrationMutations,
        SlaMutations,
        WorkLogSteps,
        BillingMutations,
        BulletinMutations,
        NoticeMutations,
        StatusSubscriberMutations,
    ),
)


class Schema(strawberry.Schema):
    """The served schema, with the documents prepared for it (parsed, limited, validated once)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            query=Query,
            mutation=Mutation,
            subscription=Subscription,
            types=[Incident, IncidentModel, IncidentReview, Bulletin, WorkLogEntry],
            scalar_overrides={datetime: DateTime},
            # A live event is executed once per group of subscribers who see it alike.
            execution_context_class=SharedEventRendering,
            config=StrawberryConfig(
                name_converter=ContractNames(),
                auto_camel_case=True,
                disable_field_suggestions=not settings.field_suggestions_enabled,
            ),
            # Factories, not instances: an extension holds its request's state (MaskErrors reads the
            # result it masks from it), so one shared instance lets concurrent requests unmask each
            # other's errors. The depth, alias and token limits are the prepared documents'.
            extensions=[
                lambda: PreparedDocuments(self.documents),
                lambda: QueryCostLimiter(max_cost=settings.max_query_cost),
                SubscriptionsOverWebSocket,
                *([] if settings.anonymous_introspection_enabled else [AnonymousIntrospection]),
                lambda: MaskServerErrors(should_mask_error=should_mask, error_message=MASKED_MESSAGE),
            ],
        )
        self.documents = Documents(self._schema, settings)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Client mistakes at INFO, server faults at ERROR, never the document's literal values."""
        ctx = execution_context
        log_errors(
            errors,
            ctx.query if ctx else None,
            ctx.variables if ctx else None,
            ctx.operation_name if ctx else None,
        )


def build_schema(settings: Settings | None = None) -> Schema:
    return Schema(settings or Settings())
