"""Forward references to the GraphQL types a type module links to upward.

The type modules import each other as a tree, from the bottom up: ``api.tenancy.types`` (every row
belongs to a tenant), then the catalogue and the SLA types, then the incident, then what hangs off an
incident (its work log, its review, alerts, bulletins). A module imports only modules below it, at its
top. A few links point the other way: a tenant lists its services and its SLA contract, an incident
its work log and its review. Such a field is annotated with one of the references below, which
Strawberry resolves once every module is loaded, and its resolver imports the module above when it
runs: the one kind of import inside a function the API keeps (``tests/api/test_layers.py`` checks).

A new upward link adds its reference here, never a ``strawberry.lazy`` of its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, TypeAlias

import strawberry

if TYPE_CHECKING:
    from api.billing.types import WorkLogEntry
    from api.catalog.types import ServiceConnection
    from api.incidents.reviews import IncidentReview
    from api.notices.types import NotificationPreferences
    from api.sla.types import SlaContract

# Tenant.services and Tenant.slaContract: the catalogue and the SLA types stand on the tenant's.
ServiceConnectionRef: TypeAlias = Annotated["ServiceConnection", strawberry.lazy("api.catalog.types")]
SlaContractRef: TypeAlias = Annotated["SlaContract", strawberry.lazy("api.sla.types")]

# Incident.workLog and Incident.review: a work log entry and a review link back to their incident.
WorkLogEntryRef: TypeAlias = Annotated["WorkLogEntry", strawberry.lazy("api.billing.types")]
IncidentReviewRef: TypeAlias = Annotated["IncidentReview", strawberry.lazy("api.incidents.reviews")]

# Viewer.notificationPreferences: a member's preferences belong to a tenant.
NotificationPreferencesRef: TypeAlias = Annotated[
    "NotificationPreferences", strawberry.lazy("api.notices.types")
]
