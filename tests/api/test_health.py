"""Liveness and readiness: /healthz answers while the process runs; /readyz only when the database is
reachable and migrated to every head."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from api.app import create_app
from domain.migrate import head_revisions, upgrade
from tests import factories as f
from tests.conftest import Cluster


def test_healthz(live: f.LiveApp) -> None:
    response = httpx.get(f"{live.url}/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_readyz_when_migrated(live: f.LiveApp) -> None:
    response = httpx.get(f"{live.url}/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert sorted(body["migration"]) == sorted(head_revisions())


@pytest.fixture(scope="module")
def scratch(cluster: Cluster) -> Iterator[tuple[str, str]]:
    """Two more databases of the cluster: one never migrated, one left at the first revision."""
    names = [f"t_health_{label}_{uuid.uuid4().hex[:8]}" for label in ("empty", "behind")]
    empty, behind = (cluster.create_database(name) for name in names)
    upgrade(behind, "0001")
    yield empty, behind
    for name in names:
        cluster.drop_database(name)


def _served_readyz(test_db: Any, url: str) -> httpx.Response:
    app = create_app(f.settings_for(test_db), database_url=url)
    with f.app_server(test_db, app=app, listening=False) as served:
        assert httpx.get(f"{served.url}/healthz").status_code == 200
        return httpx.get(f"{served.url}/readyz")


def test_readyz_is_503_on_a_database_without_migrations(test_db: Any, scratch: tuple[str, str]) -> None:
    response = _served_readyz(test_db, scratch[0])
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


def test_readyz_is_503_when_migrations_are_behind(test_db: Any, scratch: tuple[str, str]) -> None:
    assert head_revisions() != {"0001"}, "only one revision exists: nothing can be behind yet"
    response = _served_readyz(test_db, scratch[1])
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["migration"] == ["0001"]
    assert sorted(body["head"]) == sorted(head_revisions())


def test_readyz_is_503_when_the_database_is_unreachable(test_db: Any) -> None:
    closed = f"postgresql://nobody@127.0.0.1:{f.free_port()}/nothing"
    response = _served_readyz(test_db, closed)
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert "nobody" not in response.text
