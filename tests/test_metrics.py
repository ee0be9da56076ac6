"""Prometheus metrics at /metrics: HTTP answers by route template, live subscribers, the pool."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from domain.settings import Settings
from tests.conftest import TestDatabase
from tests.server import serve


@pytest.fixture(scope="module")
def base_url(test_db: TestDatabase) -> Iterator[str]:
    with serve(create_app(Settings(), database_url=test_db.app_url)) as url:
        yield url


def samples(base_url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = httpx.get(f"{base_url}/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_answers_are_counted_by_route_template_not_by_path(base_url: str) -> None:
    for _ in range(3):
        assert httpx.get(f"{base_url}/healthz").status_code == 200
    assert httpx.get(f"{base_url}/status/no-such-tenant").status_code == 404
    assert httpx.post(f"{base_url}/graphql", json={"query": "{ viewer { subject } }"}).status_code == 200
    found = samples(base_url)
    healthz = frozenset({("method", "GET"), ("route", "/healthz"), ("status", "200")})
    assert found[("incidentdesk_http_requests_total", healthz)] == 3
    status_pages = [labels for name, labels in found if name == "incidentdesk_http_requests_total"]
    assert frozenset({("method", "GET"), ("route", "/status/{slug}"), ("status", "404")}) in status_pages
    assert not any(("route", "/status/no-such-tenant") in labels for labels in status_pages)
    assert found[("incidentdesk_live_subscribers", frozenset())] == 0
    assert ("incidentdesk_db_connections_in_use", frozenset()) in found


def test_metrics_can_be_switched_off(test_db: TestDatabase) -> None:
    with serve(create_app(Settings(metrics_enabled=False), database_url=test_db.app_url)) as url:
        assert httpx.get(f"{url}/metrics").status_code == 404
