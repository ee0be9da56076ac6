"""Who may scrape, and where: ``INCIDENTDESK_METRICS_TOKEN`` (a bearer token) and
``INCIDENTDESK_METRICS_PORT`` (a port of its own), over real HTTP."""

from __future__ import annotations

import httpx
from pydantic import SecretStr

from api.app import create_app
from domain.settings import Settings
from tests.conftest import TestDatabase
from tests.server import free_port, serve

TOKEN = "s3cret-scrape-token"


def test_a_set_token_is_required_to_scrape(test_db: TestDatabase) -> None:
    settings = Settings(metrics_token=SecretStr(TOKEN))
    with serve(create_app(settings, database_url=test_db.app_url)) as url:
        refused = httpx.get(f"{url}/metrics")
        assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer")
        assert TOKEN not in refused.text
        wrong = httpx.get(f"{url}/metrics", headers={"authorization": "Bearer not-the-token"})
        assert wrong.status_code == 401
        assert httpx.get(f"{url}/metrics", headers={"authorization": TOKEN}).status_code == 401
        allowed = httpx.get(f"{url}/metrics", headers={"authorization": f"Bearer {TOKEN}"})
        assert allowed.status_code == 200 and "incidentdesk_http_requests_total" in allowed.text
        # The rest of the app does not ask for it.
        assert httpx.get(f"{url}/healthz").status_code == 200


def test_a_set_port_serves_the_metrics_there_and_not_on_the_app(test_db: TestDatabase) -> None:
    port = free_port()
    settings = Settings(host="127.0.0.1", metrics_port=port, metrics_token=SecretStr(TOKEN))
    with serve(create_app(settings, database_url=test_db.app_url)) as url:
        assert httpx.get(f"{url}/healthz").status_code == 200
        assert httpx.get(f"{url}/metrics", headers={"authorization": f"Bearer {TOKEN}"}).status_code == 404
        # The lifespan has started every worker before the app answers, the metrics server among them.
        separate = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{separate}/metrics").status_code == 401
        scraped = httpx.get(f"{separate}/metrics", headers={"authorization": f"Bearer {TOKEN}"})
        assert scraped.status_code == 200
        # The same registry: the app's answers are counted there.
        assert 'route="/healthz"' in scraped.text
        assert httpx.get(f"{separate}/healthz").status_code == 404
    # Stopped with the app: the port is free again.
    with httpx.Client() as client:
        try:
            client.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        except httpx.ConnectError:
            pass
        else:
            raise AssertionError("the metrics server outlived the app")
