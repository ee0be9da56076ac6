"""The incident practice's vocabulary, named as the public contract names it."""

from __future__ import annotations

import enum


class IncidentStatus(enum.StrEnum):
    NEW = "NEW"
    IN_PROGRESS = "IN_PROGRESS"
    ON_HOLD = "ON_HOLD"
    RESOLVED = "RESOLVED"
    CLOSED = "CLOSED"
    CANCELLED = "CANCELLED"


OPEN_STATUSES = frozenset({IncidentStatus.NEW, IncidentStatus.IN_PROGRESS, IncidentStatus.ON_HOLD})
TERMINAL_STATUSES = frozenset({IncidentStatus.CLOSED, IncidentStatus.CANCELLED})


class Impact(enum.StrEnum):
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"


class Urgency(enum.StrEnum):
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"


class Priority(enum.StrEnum):
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"
    P5 = "P5"


class IncidentSource(enum.StrEnum):
    USER_REPORT = "USER_REPORT"
    SERVICE_DESK = "SERVICE_DESK"
    MONITORING = "MONITORING"
    PARTNER_API = "PARTNER_API"


class HoldReason(enum.StrEnum):
    AWAITING_CUSTOMER = "AWAITING_CUSTOMER"
    AWAITING_VENDOR = "AWAITING_VENDOR"
    AWAITING_CHANGE = "AWAITING_CHANGE"


class ResolutionCode(enum.StrEnum):
    FIXED = "FIXED"
    WORKAROUND_APPLIED = "WORKAROUND_APPLIED"
    NO_FAULT_FOUND = "NO_FAULT_FOUND"
    DUPLICATE = "DUPLICATE"
    USER_ERROR = "USER_ERROR"
    VENDOR_FIX = "VENDOR_FIX"


class Visibility(enum.StrEnum):
    PUBLIC = "PUBLIC"
    INTERNAL = "INTERNAL"


class ResponderRole(enum.StrEnum):
    COMMANDER = "COMMANDER"
    TECHNICAL_LEAD = "TECHNICAL_LEAD"
    COMMUNICATIONS = "COMMUNICATIONS"
    SCRIBE = "SCRIBE"
    SUBJECT_MATTER_EXPERT = "SUBJECT_MATTER_EXPERT"
    VENDOR_LIAISON = "VENDOR_LIAISON"


class IncidentEventKind(enum.StrEnum):
    CREATED = "CREATED"
    CLASSIFIED = "CLASSIFIED"
    PRIORITY_CHANGED = "PRIORITY_CHANGED"
    ASSIGNED = "ASSIGNED"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    PUT_ON_HOLD = "PUT_ON_HOLD"
    RESUMED = "RESUMED"
    COMMENTED = "COMMENTED"
    WORKAROUND_APPLIED = "WORKAROUND_APPLIED"
    ESCALATED = "ESCALATED"
    RESOLVED = "RESOLVED"
    REOPENED = "REOPENED"
    CLOSED = "CLOSED"
    CANCELLED = "CANCELLED"
    LINKED = "LINKED"
    UNLINKED = "UNLINKED"
    MAJOR_DECLARED = "MAJOR_DECLARED"
    RESPONDER_ADDED = "RESPONDER_ADDED"
    MODEL_APPLIED = "MODEL_APPLIED"
    TASK_UPDATED = "TASK_UPDATED"
    ALERT_RECEIVED = "ALERT_RECEIVED"
    SLA_AT_RISK = "SLA_AT_RISK"
    SLA_BREACHED = "SLA_BREACHED"
    RATED = "RATED"
    WORK_LOGGED = "WORK_LOGGED"
