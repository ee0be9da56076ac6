"""Pure pieces of the integrations: PagerDuty event parsing and severity mapping, Standard Webhooks
signing, the retry schedule, the SSRF address rules, and how an idempotent request is recognised."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from api.idempotency import fingerprint, is_mutation, valid_key
from domain.incidents.enums import Impact, Urgency
from domain.incidents.lifecycle import priority_for
from domain.intake.alerts import (
    Action,
    InvalidEvent,
    Severity,
    alert_record,
    describe,
    impact_and_urgency,
    parse_event,
)
from domain.sealing import SIGNING_KEYS, WEBHOOK_SECRETS, Sealer, SealingError
from domain.webhooks.signing import SecretBox, message_body, new_secret, retry_delay, signed_headers
from domain.webhooks.targets import UnsafeTarget, is_public, parse_target

KEY = "0123456789abcdef0123456789abcdef"
PAYLOAD = {"summary": "Disk full on db-1", "source": "db-1.example", "severity": "critical"}


def trigger(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "routing_key": KEY,
        "event_action": "trigger",
        "dedup_key": "disk-full/db-1",
        "payload": {
            "summary": "Disk full on db-1",
            "source": "db-1.example",
            "severity": "critical",
            "timestamp": "2026-11-27T08:00:00.000+01:00",
            "component": "postgres",
            "group": "storage",
            "class": "disk",
            "custom_details": {"free": "0%", "mount": "/var/lib/postgresql"},
        },
        "client": "Prometheus",
        "client_url": "https://prometheus.example/alerts",
        "links": [{"href": "https://runbooks.example/disk", "text": "Runbook"}],
        "images": [{"src": "https://graphs.example/disk.png", "alt": "disk usage"}],
    }
    body.update(overrides)
    return body


def errors_of(body: object) -> list[str]:
    with pytest.raises(InvalidEvent) as caught:
        parse_event(body)
    return caught.value.errors


def test_a_full_trigger_is_read_with_every_field() -> None:
    event = parse_event(trigger())
    assert event.action is Action.TRIGGER
    assert event.dedup_key == "disk-full/db-1"
    payload = event.payload
    assert payload is not None
    assert payload.severity is Severity.CRITICAL
    assert payload.timestamp == datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
    assert (payload.component, payload.group, payload.class_) == ("postgres", "storage", "disk")
    assert event.links[0].href == "https://runbooks.example/disk"
    assert event.images[0].alt == "disk usage"
    description = describe(event)
    assert "Source: db-1.example" in description and '"mount": "/var/lib/postgresql"' in description
    record = alert_record(event)
    assert record["class"] == "disk" and record["customDetails"]["free"] == "0%"


def test_acknowledge_and_resolve_need_only_a_dedup_key() -> None:
    event = parse_event({"routing_key": KEY, "event_action": "resolve", "dedup_key": "k"})
    assert event.action is Action.RESOLVE and event.payload is None and event.summary is None
    event = parse_event(
        {"routing_key": KEY, "event_action": "resolve", "dedup_key": "k", "payload": {"summary": "ok now"}}
    )
    assert event.summary == "ok now"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ([], "Event object must be a JSON object"),
        (trigger(routing_key=None), "'routing_key' is missing or blank"),
        (trigger(routing_key=42), "'routing_key' must be a string"),
        (trigger(event_action="explode"), "'event_action' must be one of trigger, acknowledge, resolve"),
        (trigger(payload=None), "'payload' is missing"),
        (trigger(payload="text"), "'payload' must be an object"),
        (trigger(dedup_key="x" * 256), "Length of 'dedup_key' is too long (maximum is 255 characters)"),
        (trigger(links=[{"text": "no href"}]), "each of 'links' needs an 'href'"),
        (trigger(images="nope"), "'images' must be an array of at most 50 objects"),
        (trigger(routing_key="a\x00b"), "Strings must not contain NUL characters"),
        (trigger(dedup_key="x\x00"), "Strings must not contain NUL characters"),
        # What Python's decoder reads and PostgreSQL cannot store: refused here, never a failed store.
        (trigger(client="\ud800 lone"), "Strings must be valid Unicode (no lone surrogates)"),
        (
            trigger(payload={**PAYLOAD, "custom_details": {"deep": [[{"\udfff": 1}]]}}),
            "Strings must be valid Unicode (no lone surrogates)",
        ),
        (trigger(payload={**PAYLOAD, "custom_details": {"load": float("nan")}}), "Numbers must be finite"),
        (trigger(payload={**PAYLOAD, "custom_details": [float("-inf")]}), "Numbers must be finite"),
        (
            {"routing_key": KEY, "event_action": "acknowledge"},
            "'dedup_key' is required for event_action acknowledge",
        ),
    ],
)
def test_invalid_events_are_refused_with_reasons(body: object, expected: str) -> None:
    assert expected in errors_of(body)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"summary": " "}, "'summary' is missing or blank"),
        ({"summary": "x" * 1025}, "Length of 'summary' is too long (maximum is 1024 characters)"),
        ({"source": None}, "'source' is missing or blank"),
        ({"severity": "fatal"}, "'severity' must be one of critical, error, warning, info"),
        ({"timestamp": "yesterday"}, "'timestamp' must be an ISO 8601 date and time"),
        ({"timestamp": "0001-01-01T00:00:00+14:00"}, "'timestamp' must be an ISO 8601 date and time"),
        ({"summary": "disk \x00 full"}, "Strings must not contain NUL characters"),
    ],
)
def test_invalid_payloads_are_refused_with_reasons(change: dict[str, object], expected: str) -> None:
    body = trigger()
    body["payload"] = {**body["payload"], **change}  # type: ignore[dict-item]
    assert expected in errors_of(body)


def test_every_problem_is_listed_at_once() -> None:
    errors = errors_of({"event_action": "trigger", "payload": {"severity": "bad"}})
    assert len(errors) == 4  # routing_key, summary, source, severity


def test_severity_maps_to_impact_urgency_and_so_to_priority() -> None:
    priorities = {s: priority_for(*impact_and_urgency(s)).value for s in Severity}
    assert priorities == {
        Severity.CRITICAL: "P1",
        Severity.ERROR: "P2",
        Severity.WARNING: "P3",
        Severity.INFO: "P5",
    }
    assert impact_and_urgency(Severity.CRITICAL) == (Impact.HIGH, Urgency.HIGH)


def test_signatures_verify_with_the_reference_library() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    body = message_body("incident.created", datetime.now(UTC), {"incident": {"number": "INC-000001"}})
    headers = signed_headers(secret, "msg_1", body, datetime.now(UTC))
    assert Webhook(secret).verify(body, headers)["type"] == "incident.created"
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace("INC-000001", "INC-000002"), headers)
    stale = signed_headers(secret, "msg_1", body, datetime.now(UTC) - timedelta(minutes=10))
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, stale)


def test_secrets_are_always_sealed_at_rest() -> None:
    secret = new_secret()
    box = SecretBox(Sealer(["a key encryption key"], WEBHOOK_SECRETS))
    sealed = box.seal(secret)
    assert secret not in sealed
    assert box.open(sealed) == secret
    assert box.is_current(sealed)
    # A plaintext row from before still opens, and resealing seals it.
    assert box.open(secret) == secret
    assert not box.is_current(secret)
    assert box.open(box.reseal(secret)) == secret
    # Another key opens nothing; with both, the first seals and the second still opens.
    other = SecretBox(Sealer(["another key"], WEBHOOK_SECRETS))
    with pytest.raises(SealingError):
        other.open(sealed)
    both = SecretBox(Sealer(["another key", "a key encryption key"], WEBHOOK_SECRETS))
    assert not both.is_current(sealed)
    moved = both.reseal(sealed)
    assert both.is_current(moved) and other.open(moved) == secret
    # A signing key's sealing never opens a webhook secret: each purpose has its own derived key.
    with pytest.raises(SealingError):
        Sealer(["a key encryption key"], SIGNING_KEYS).open(sealed.removeprefix("fernet:"))


@given(attempt=st.integers(min_value=1, max_value=10_000), r=st.floats(min_value=0, max_value=1))
def test_retry_delays_grow_exponentially_with_jitter_and_a_cap(attempt: int, r: float) -> None:
    delay = retry_delay(attempt, base=5, cap=3600, rand=lambda: r)
    full = min(3600.0, 5 * 2 ** min(attempt - 1, 60))
    assert full / 2 <= delay <= full


def test_retry_delays_double() -> None:
    assert [retry_delay(n, base=1, cap=100, rand=lambda: 1.0) for n in range(1, 9)] == [
        1,
        2,
        4,
        8,
        16,
        32,
        64,
        100,
    ]


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
        "ff02::1",
    ],
)
def test_private_and_special_addresses_are_not_public(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_are_public(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/", "http://", "https://user:pw@example.com/hook", "not a url", "https://x/#frag"],
)
def test_unacceptable_urls_are_refused(url: str) -> None:
    with pytest.raises(UnsafeTarget):
        parse_target(url)


def test_mutations_are_recognised_among_operations() -> None:
    assert is_mutation({"query": "mutation { a }"})
    assert not is_mutation({"query": "{ a }"})
    assert not is_mutation({"query": "mutation {"})
    assert not is_mutation({"query": "query A { a } mutation B { b }"})
    assert is_mutation({"query": "query A { a } mutation B { b }", "operationName": "B"})
    assert not is_mutation({"query": "query A { a } mutation B { b }", "operationName": "A"})
    assert not is_mutation(None)


def test_the_fingerprint_covers_variables_and_tenant_but_not_key_order() -> None:
    a = {"query": "mutation($x: Int) { a(x: $x) }", "variables": {"x": 1, "y": 2}}
    b = {"variables": {"y": 2, "x": 1}, "query": "mutation($x: Int) { a(x: $x) }"}
    assert fingerprint(a, None) == fingerprint(b, None)
    assert fingerprint(a, None) != fingerprint({**a, "variables": {"x": 2}}, None)
    assert fingerprint(a, None) != fingerprint(a, "acme")
    assert valid_key("3f2a-9b") and not valid_key("") and not valid_key("a b") and not valid_key("x" * 256)
