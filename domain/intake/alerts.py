"""PagerDuty Events API v2 event bodies, as pure functions: parsing with PagerDuty's own error wording,
and the mapping from an alert's severity to the practice's impact and urgency.

Any tool configured for PagerDuty (Prometheus Alertmanager, Grafana, Zabbix, Datadog) sends these bodies;
the intake accepts them unchanged.
"""

from __future__ import annotations

import enum
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from domain.incidents.enums import Impact, Urgency

MAX_SUMMARY = 1024
MAX_DEDUP_KEY = 255
MAX_FIELD = 1024
MAX_LINKS = 50
MAX_CUSTOM_DETAILS_BYTES = 256_000


class Action(enum.StrEnum):
    TRIGGER = "trigger"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


class Severity(enum.StrEnum):
    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


_IMPACT_URGENCY: dict[Severity, tuple[Impact, Urgency]] = {
    Severity.CRITICAL: (Impact.HIGH, Urgency.HIGH),  # P1
    Severity.ERROR: (Impact.HIGH, Urgency.MEDIUM),  # P2
    Severity.WARNING: (Impact.MEDIUM, Urgency.MEDIUM),  # P3
    Severity.INFO: (Impact.LOW, Urgency.LOW),  # P5
}


def impact_and_urgency(severity: Severity) -> tuple[Impact, Urgency]:
    """An alert's severity as the practice's classification (the priority then follows from the matrix)."""
    return _IMPACT_URGENCY[severity]


@dataclass(frozen=True)
class Link:
    href: str
    text: str | None = None


@dataclass(frozen=True)
class Image:
    src: str
    href: str | None = None
    alt: str | None = None


@dataclass(frozen=True)
class AlertPayload:
    summary: str
    source: str
    severity: Severity
    timestamp: datetime | None = None
    component: str | None = None
    group: str | None = None
    class_: str | None = None
    custom_details: Any = None


@dataclass(frozen=True)
class AlertEvent:
    routing_key: str
    action: Action
    dedup_key: str | None = None
    # Required for trigger; acknowledge and resolve may carry one (its summary becomes the resolution note).
    payload: AlertPayload | None = None
    summary: str | None = None
    client: str | None = None
    client_url: str | None = None
    links: tuple[Link, ...] = field(default_factory=tuple)
    images: tuple[Image, ...] = field(default_factory=tuple)


class InvalidEvent(Exception):
    """The body is not a valid Events API v2 event; ``errors`` are the reasons, PagerDuty-style."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def parse_timestamp(value: str) -> datetime | None:
    """An ISO 8601 timestamp (``Z`` or an offset; none means UTC), or None when it is not one."""
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        # An instant that has no UTC date (year 0 or 10000 once the offset is applied) is not one either.
        return parsed.astimezone(UTC) if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        return None


class _Reader:
    def __init__(self, errors: list[str]) -> None:
        self.errors = errors

    def text(
        self, obj: dict[str, Any], name: str, *, required: bool = False, limit: int = MAX_FIELD
    ) -> str | None:
        value = obj.get(name)
        if value is None:
            if required:
                self.errors.append(f"'{name}' is missing or blank")
            return None
        if not isinstance(value, str):
            self.errors.append(f"'{name}' must be a string")
            return None
        value = value.strip()
        if not value:
            if required:
                self.errors.append(f"'{name}' is missing or blank")
            return None
        if len(value) > limit:
            self.errors.append(f"Length of '{name}' is too long (maximum is {limit} characters)")
            return None
        return value


def _unstorable(document: Any) -> str | None:
    """What in a decoded JSON document PostgreSQL could not store, if anything: a NUL character or a lone
    surrogate in a string, or a number that is not finite (Python's decoder reads NaN and Infinity).
    Walked without recursion: a document may nest as deep as the decoder allowed."""
    stack = [document]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return "Strings must not contain NUL characters"
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return "Strings must be valid Unicode (no lone surrogates)"
        elif isinstance(value, float):
            if not math.isfinite(value):
                return "Numbers must be finite"
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return None


def parse_event(body: Any) -> AlertEvent:
    """Read an Events API v2 body; raises InvalidEvent listing every problem found."""
    if not isinstance(body, dict):
        raise InvalidEvent(["Event object must be a JSON object"])
    problem = _unstorable(body)
    if problem is not None:
        raise InvalidEvent([problem])
    errors: list[str] = []
    read = _Reader(errors)
    routing_key = read.text(body, "routing_key", required=True, limit=64)
    action_text = read.text(body, "event_action", required=True, limit=32)
    action: Action | None = None
    if action_text is not None:
        try:
            action = Action(action_text)
        except ValueError:
            errors.append("'event_action' must be one of trigger, acknowledge, resolve")
    dedup_key = read.text(body, "dedup_key", limit=MAX_DEDUP_KEY)
    if action in (Action.ACKNOWLEDGE, Action.RESOLVE) and dedup_key is None:
        errors.append(f"'dedup_key' is required for event_action {action.value}")
    payload: AlertPayload | None = None
    summary: str | None = None
    raw_payload = body.get("payload")
    if raw_payload is None:
        if action is Action.TRIGGER:
            errors.append("'payload' is missing")
    elif not isinstance(raw_payload, dict):
        errors.append("'payload' must be an object")
    elif action is Action.TRIGGER:
        payload = _payload(raw_payload, read)
    else:
        # Acknowledge and resolve ignore the payload except for a summary worth keeping.
        summary = read.text(raw_payload, "summary", limit=MAX_SUMMARY)
    client = read.text(body, "client")
    client_url = read.text(body, "client_url", limit=2048)
    links = tuple(_links(body.get("links"), errors))
    images = tuple(_images(body.get("images"), errors))
    if errors or routing_key is None or action is None:
        raise InvalidEvent(errors)
    return AlertEvent(
        routing_key=routing_key,
        action=action,
        dedup_key=dedup_key,
        payload=payload,
        summary=payload.summary if payload is not None else summary,
        client=client,
        client_url=client_url,
        links=links,
        images=images,
    )


def _payload(raw: dict[str, Any], read: _Reader) -> AlertPayload | None:
    errors = read.errors
    before = len(errors)
    summary = read.text(raw, "summary", required=True, limit=MAX_SUMMARY)
    source = read.text(raw, "source", required=True, limit=255)
    severity_text = read.text(raw, "severity", required=True, limit=32)
    severity: Severity | None = None
    if severity_text is not None:
        try:
            severity = Severity(severity_text.lower())
        except ValueError:
            errors.append("'severity' must be one of critical, error, warning, info")
    timestamp: datetime | None = None
    timestamp_text = read.text(raw, "timestamp", limit=64)
    if timestamp_text is not None:
        timestamp = parse_timestamp(timestamp_text)
        if timestamp is None:
            errors.append("'timestamp' must be an ISO 8601 date and time")
    component = read.text(raw, "component", limit=255)
    group = read.text(raw, "group", limit=255)
    class_ = read.text(raw, "class", limit=255)
    custom_details = raw.get("custom_details")
    if custom_details is not None:
        size = len(json.dumps(custom_details, default=str))
        if size > MAX_CUSTOM_DETAILS_BYTES:
            errors.append(f"'custom_details' is too large (maximum is {MAX_CUSTOM_DETAILS_BYTES} bytes)")
    if len(errors) > before or summary is None or source is None or severity is None:
        return None
    return AlertPayload(
        summary=summary,
        source=source,
        severity=severity,
        timestamp=timestamp,
        component=component,
        group=group,
        class_=class_,
        custom_details=custom_details,
    )


def _links(raw: Any, errors: list[str]) -> list[Link]:
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > MAX_LINKS:
        errors.append(f"'links' must be an array of at most {MAX_LINKS} objects")
        return []
    links = []
    for item in raw:
        href = item.get("href") if isinstance(item, dict) else None
        if not isinstance(href, str) or not href.strip():
            errors.append("each of 'links' needs an 'href'")
            continue
        text = item.get("text")
        links.append(Link(href=href.strip()[:2048], text=text[:1024] if isinstance(text, str) else None))
    return links


def _images(raw: Any, errors: list[str]) -> list[Image]:
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > MAX_LINKS:
        errors.append(f"'images' must be an array of at most {MAX_LINKS} objects")
        return []
    images = []
    for item in raw:
        src = item.get("src") if isinstance(item, dict) else None
        if not isinstance(src, str) or not src.strip():
            errors.append("each of 'images' needs a 'src'")
            continue
        href, alt = item.get("href"), item.get("alt")
        images.append(
            Image(
                src=src.strip()[:2048],
                href=href[:2048] if isinstance(href, str) else None,
                alt=alt[:1024] if isinstance(alt, str) else None,
            )
        )
    return images


def describe(event: AlertEvent) -> str:
    """The incident description of a triggering alert: what monitoring said, readable by a person."""
    payload = event.payload
    if payload is None:
        return event.summary or ""
    lines = [payload.summary, ""]
    for label, value in (
        ("Source", payload.source),
        ("Severity", payload.severity.value),
        ("Component", payload.component),
        ("Group", payload.group),
        ("Class", payload.class_),
        ("Reported by", event.client),
        ("Client URL", event.client_url),
    ):
        if value:
            lines.append(f"{label}: {value}")
    for link in event.links:
        lines.append(f"Link: {link.text + ' ' if link.text else ''}{link.href}")
    if payload.custom_details is not None:
        details = json.dumps(payload.custom_details, indent=2, sort_keys=True, default=str)
        lines += ["", "Details:", details]
    return "\n".join(lines).strip()


def alert_record(event: AlertEvent) -> dict[str, Any]:
    """The alert as kept in the timeline (an ALERT_RECEIVED event's data)."""
    record: dict[str, Any] = {"action": event.action.value, "dedupKey": event.dedup_key}
    if event.summary:
        record["summary"] = event.summary
    payload = event.payload
    if payload is not None:
        record.update(
            source=payload.source,
            severity=payload.severity.value,
            timestamp=payload.timestamp.isoformat() if payload.timestamp else None,
            component=payload.component,
            group=payload.group,
            **{"class": payload.class_},
            customDetails=payload.custom_details,
        )
    if event.client:
        record["client"] = event.client
    if event.client_url:
        record["clientUrl"] = event.client_url
    if event.links:
        record["links"] = [{"href": link.href, "text": link.text} for link in event.links]
    if event.images:
        record["images"] = [{"src": i.src, "href": i.href, "alt": i.alt} for i in event.images]
    return {key: value for key, value in record.items() if value is not None}
