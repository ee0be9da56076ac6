"""``incidentTrends``: the SLA report's figures per period and group (``domain/sla/trends.py``)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import strawberry

from api import fields
from api.catalog.types import Service, service_by_key
from api.context import Context, Info
from api.incidents.enums import Priority
from api.mapping import mapped
from api.tenancy.resolve import tenant_report
from domain.sla import trends

strawberry.enum(trends.TrendInterval, name="TrendInterval", description="Days, ISO weeks or months, local")
strawberry.enum(trends.TrendGrouping, name="TrendGrouping")
TrendInterval = trends.TrendInterval
TrendGrouping = trends.TrendGrouping


@strawberry.type(name="TrendBucket", description="One period of a trend, for one group when grouped")
class TrendBucket:
    period_start: date = strawberry.field(description="The period's first local day (the tenant's timezone)")
    category: str | None
    priority: Priority | None
    incidents: int
    mean_time_to_respond_minutes: float | None
    mean_time_to_resolve_minutes: float | None
    breach_rate_percent: float | None = strawberry.field(
        description="Of the incidents a contract governs: the share whose response or resolution breached"
    )
    average_satisfaction: float | None
    tenant_id: strawberry.Private[uuid.UUID]
    service_id: strawberry.Private[uuid.UUID | None]

    @classmethod
    def from_bucket(cls, tenant_id: uuid.UUID, bucket: trends.TrendBucket) -> TrendBucket:
        return mapped(cls, bucket, tenant_id=tenant_id)

    @fields.field(description="The service, when grouped by service (null: incidents of no service)")
    async def service(self, info: Info) -> Service | None:
        return await service_by_key(info.context, self.tenant_id, self.service_id)


async def incident_trends(
    ctx: Context,
    tenant: str | None,
    start: datetime,
    end: datetime,
    interval: TrendInterval,
    group_by: TrendGrouping | None,
) -> list[TrendBucket]:
    """The trend of one tenant; refusals are top-level errors, as for the SLA report."""
    tenant_id, buckets = await tenant_report(
        ctx,
        tenant,
        lambda tenant_id: trends.incident_trends(
            ctx.db,
            ctx.actor(),
            tenant_id=tenant_id,
            start=start,
            end=end,
            interval=interval,
            group_by=group_by,
        ),
    )
    return [TrendBucket.from_bucket(tenant_id, bucket) for bucket in buckets]
