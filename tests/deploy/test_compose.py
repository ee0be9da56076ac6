"""deploy/compose.yaml against the code: the migration runs once before the replicas, the replicas run a
real ``serve`` with production settings that exist and suffice, the load balancer sends requests to the
port they bind and probes a real route, and the rate limit is counted in the Redis of the file."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from limits.storage import storage_from_string

from domain.db import APP_ROLE
from tests.deploy import sources as s
from tests.deploy.compose_file import (
    COMPOSE,
    Services,
    environment,
    invocation,
    load,
    ours,
    replicas,
    the_migration,
    the_service,
)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load()


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> Services:
    found: Services = compose["services"]
    return found


def test_every_command_is_a_real_command_line(services: Services) -> None:
    assert {invocation(svc).command for svc in ours(services).values()} == {"serve", "migrate"}


def test_every_setting_exists(services: Services) -> None:
    for name, service in ours(services).items():
        assert s.unknown_settings(environment(service)) == [], name


def test_two_replicas_serve_production_with_every_setting_it_requires(
    services: Services,
) -> None:
    serving = replicas(services)
    assert len(serving) == 2
    for name, service in serving.items():
        env = environment(service)
        with s.settings_from(env) as settings:
            assert settings.is_production, name
            assert settings.production_problems() == [], name
        # create_app refuses what must not serve production: building it is the last word.
        assert s.routes_get(s.app_routes(env), "/healthz")


def test_the_migration_runs_once_before_the_replicas(services: Services) -> None:
    migration = the_migration(services)
    postgres = the_service(services, "postgres")
    assert services[migration]["depends_on"][postgres]["condition"] == "service_healthy"
    assert services[migration]["restart"] == "no"
    for name, service in replicas(services).items():
        assert invocation(service).args.no_migrate, f"{name} must leave migrating to {migration}"
        assert service["depends_on"][migration]["condition"] == "service_completed_successfully", name


def test_database_urls_name_the_database_service_and_the_right_roles(
    services: Services,
) -> None:
    postgres_name = the_service(services, "postgres")
    postgres = services[postgres_name]["environment"]

    def parts(url: str) -> tuple[str | None, str | None, int | None, str]:
        split = urlsplit(url)
        return split.username, split.hostname, split.port, split.path.lstrip("/")

    migration = environment(services[the_migration(services)])
    # The owner migrates: the cluster's first user, who may create the roles the first time.
    assert parts(migration["INCIDENTDESK_DATABASE_URL"]) == (
        postgres["POSTGRES_USER"],
        postgres_name,
        5432,
        postgres["POSTGRES_DB"],
    )
    for name, service in replicas(services).items():
        # The replicas never see the owner's credentials.
        assert "INCIDENTDESK_DATABASE_URL" not in environment(service), name
    # Servers and administrative commands log in as the application role, which row-level security
    # always applies to.
    for name, service in ours(services).items():
        assert parts(environment(service)["INCIDENTDESK_APP_DATABASE_URL"]) == (
            APP_ROLE,
            postgres_name,
            5432,
            postgres["POSTGRES_DB"],
        ), name
    # The application role is created with a password before the first migration finds it.
    script = (s.DEPLOY / "postgres" / "app-role.sh").read_text()
    assert re.search(rf"CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS\b", script)
    mounts = services[postgres_name]["volumes"]
    assert "./postgres/app-role.sh:/docker-entrypoint-initdb.d/10-app-role.sh:ro" in mounts
    assert "INCIDENTDESK_APP_DB_PASSWORD" in postgres


def test_the_replicas_count_the_rate_limit_in_the_redis_of_the_file(
    services: Services,
) -> None:
    redis = the_service(services, "redis")
    assert services[redis]["healthcheck"]["test"][-1] == "ping"
    for name, service in replicas(services).items():
        with s.settings_from(environment(service)) as settings:
            url = settings.rate_limit_storage
        # The rate limit's own storage factory accepts it: the scheme is known and its client library
        # is installed (declared in pyproject.toml, so the image has it too).
        storage_from_string(url)
        split = urlsplit(url)
        assert split.scheme == "async+redis", name
        assert (split.hostname, split.port or 6379) == (redis, 6379), name
        assert service["depends_on"][redis]["condition"] == "service_healthy", name


def test_the_load_balancer_sends_requests_to_the_replicas_port(
    compose: dict[str, Any], services: Services
) -> None:
    serving = replicas(services)
    ports = {s.serve_address(invocation(svc), environment(svc))[1] for svc in serving.values()}
    assert len(ports) == 1
    (port,) = ports
    balancer_name = the_service(services, "caddy")
    balancer = services[balancer_name]
    assert set(balancer["depends_on"]) == set(serving)
    assert "./caddy.json:/etc/caddy/caddy.json:ro" in balancer["volumes"]
    caddy = json.loads((s.DEPLOY / "caddy.json").read_text())
    (server,) = caddy["apps"]["http"]["servers"].values()
    (route,) = server["routes"]
    (proxy,) = route["handle"]
    assert proxy["handler"] == "reverse_proxy"
    assert sorted(upstream["dial"] for upstream in proxy["upstreams"]) == sorted(
        f"{name}:{port}" for name in serving
    )
    # It sends requests only to replicas that are ready: /readyz, a route of the app.
    health = proxy["health_checks"]["active"]["uri"]
    assert health == "/readyz"
    some_replica = next(iter(serving.values()))
    assert s.routes_get(s.app_routes(environment(some_replica)), health)
    # It listens on the port it publishes; the replicas publish nothing of their own.
    (listen,) = server["listen"]
    assert balancer["ports"] == [f"{listen.rsplit(':', 1)[1]}:{listen.rsplit(':', 1)[1]}"]
    assert all("ports" not in svc for svc in serving.values())
    # The replicas believe X-Forwarded-For from the balancer alone.
    address = balancer["networks"]["incidentdesk"]["ipv4_address"]
    for name, service in serving.items():
        assert environment(service)["FORWARDED_ALLOW_IPS"] == address, name


def test_the_replicas_outlast_their_graceful_shutdown(services: Services) -> None:
    for name, service in replicas(services).items():
        with s.settings_from(environment(service)) as settings:
            grace = settings.shutdown_grace_seconds
        stop = re.fullmatch(r"(\d+)s", service["stop_grace_period"])
        assert stop and int(stop.group(1)) > grace, name


def test_every_required_variable_is_in_the_example_env_file() -> None:
    variables = s.compose_variables(COMPOSE.read_text())
    required = {name for name, needed in variables.items() if needed}
    example = s.dotenv_names(s.DEPLOY / ".env.example")
    assert required <= example, required - example
    assert example <= set(variables), example - set(variables)
