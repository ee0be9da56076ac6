"""The incident practice's GraphQL enums: the domain's own classes, registered with Strawberry.

A module of their own, below every type module, so that a type outside the incident (an SLA clock's
priority, a contract's hold reasons, a playbook's impact) names them without importing the incident's
types.
"""

from __future__ import annotations

import strawberry

from domain.incidents import enums as e

# strawberry.enum marks a class in place and returns it: each GraphQL enum is the domain's class itself,
# and the names below are plain aliases of those classes, which annotations can use as types.
strawberry.enum(e.IncidentStatus, name="IncidentStatus")
strawberry.enum(e.Impact, name="Impact")
strawberry.enum(e.Urgency, name="Urgency")
strawberry.enum(e.Priority, name="Priority")
strawberry.enum(e.IncidentSource, name="IncidentSource")
strawberry.enum(e.HoldReason, name="HoldReason")
strawberry.enum(e.ResolutionCode, name="ResolutionCode")
strawberry.enum(e.Visibility, name="Visibility")
strawberry.enum(e.ResponderRole, name="ResponderRole")
strawberry.enum(e.IncidentEventKind, name="IncidentEventKind")
IncidentStatus = e.IncidentStatus
Impact = e.Impact
Urgency = e.Urgency
Priority = e.Priority
IncidentSource = e.IncidentSource
HoldReason = e.HoldReason
ResolutionCode = e.ResolutionCode
Visibility = e.Visibility
ResponderRole = e.ResponderRole
IncidentEventKind = e.IncidentEventKind
