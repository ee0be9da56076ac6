"""The manifests' command lines, run for real against the suite's PostgreSQL (and a real Redis):

- A Kubernetes release in its order: a server of the Deployment, started on a database that was never
  migrated, is alive but not ready; the migration Job's command runs; the server becomes ready.
- The Compose replicas count the rate limit together in Redis: a caller who spent the limit on one
  replica is refused by the other.
"""

from __future__ import annotations

import ipaddress
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from domain.db import app_url_from_owner_url
from tests.conftest import Cluster, TestDatabase
from tests.deploy import compose_file as compose
from tests.deploy import kubernetes_files as kubernetes
from tests.deploy import processes, sources
from tests.waiting import eventually

KEY = "a key encryption key of the tests"


@pytest.fixture
def unmigrated(cluster: Cluster) -> Iterator[str]:
    """The owner URL of a database nothing has migrated yet: a new installation."""
    name = f"t_deploy_{uuid.uuid4().hex[:8]}"
    url = cluster.create_database(name)
    yield url
    cluster.drop_database(name)


def test_a_release_migrates_with_the_job_before_the_servers_are_ready(
    unmigrated: str, tmp_path: Path
) -> None:
    resources = sources.kubernetes_resources()
    server = kubernetes.container(kubernetes.one(resources, "Deployment"))
    job = kubernetes.container(kubernetes.one(resources, "Job"))
    # What the Secrets would hold, for this database.
    held = {
        "INCIDENTDESK_DATABASE_URL": unmigrated,
        "INCIDENTDESK_APP_DATABASE_URL": app_url_from_owner_url(unmigrated),
        "INCIDENTDESK_KEY_ENCRYPTION_KEY": KEY,
        "INCIDENTDESK_RATE_LIMIT_STORAGE": "async+memory://",
    }
    data = {"INCIDENTDESK_DATA_DIR": str(tmp_path / "data")}

    def env(container: dict[str, Any]) -> dict[str, str]:
        declared = kubernetes.declared_environment(container)
        return processes.process_environment(
            declared, **{name: held[name] for name in declared if name in held}, **data
        )

    readiness = server["readinessProbe"]["httpGet"]["path"]
    liveness = server["livenessProbe"]["httpGet"]["path"]
    with processes.server(kubernetes.invocation(server), env(server), tmp_path / "server.log") as url:
        assert httpx.get(url + liveness).status_code == 200
        assert httpx.get(url + readiness).status_code == 503, "ready before the schema was migrated"

        status = processes.run_command(kubernetes.invocation(job), env(job), tmp_path / "job.log")
        assert status == 0, (tmp_path / "job.log").read_text()

        eventually(lambda: httpx.get(url + readiness).status_code == 200, "readiness after the migration")
        assert httpx.get(url + liveness).status_code == 200


def test_the_compose_replicas_count_the_rate_limit_together(test_db: TestDatabase, tmp_path: Path) -> None:
    services = compose.load()["services"]
    replicas = compose.replicas(services)
    redis_service = services[compose.the_service(services, "redis")]
    with processes.redis(redis_service["command"], tmp_path / "redis.log") as redis_port:

        def env(service: dict[str, Any]) -> dict[str, str]:
            declared = compose.declared_environment(service)
            # The file's Redis URL, pointed at this Redis: same scheme, same options.
            shared = urlsplit(declared["INCIDENTDESK_RATE_LIMIT_STORAGE"])
            storage = urlunsplit(shared._replace(netloc=f"127.0.0.1:{redis_port}"))
            return processes.process_environment(
                declared,
                INCIDENTDESK_APP_DATABASE_URL=test_db.app_url,
                INCIDENTDESK_RATE_LIMIT_STORAGE=storage,
                INCIDENTDESK_RATE_LIMIT_PER_MINUTE=str(LIMIT),
                INCIDENTDESK_DATA_DIR=str(tmp_path / "data"),
                # The test stands where the load balancer does.
                FORWARDED_ALLOW_IPS="127.0.0.1",
            )

        (first_name, first), (second_name, second) = replicas.items()
        with (
            processes.server(compose.invocation(first), env(first), tmp_path / f"{first_name}.log") as one,
            processes.server(compose.invocation(second), env(second), tmp_path / f"{second_name}.log") as two,
        ):
            eventually(lambda: spent_on_one_refused_by_the_other(one, two), "a limit shared by the replicas")


LIMIT = 3


def spent_on_one_refused_by_the_other(one: str, two: str) -> bool:
    """A new anonymous caller (a client address of its own, passed on by the balancer) spends the limit
    on one replica, then asks the other: refused when they count together. A caller's window starts at
    its first request; should it end between these few requests, a new caller tries again."""
    caller = {"x-forwarded-for": str(ipaddress.IPv4Address(0x0A000000 + secrets.randbits(24)))}
    body = {"query": "{ __typename }"}
    spent = [httpx.post(f"{one}/graphql", json=body, headers=caller).status_code for _ in range(LIMIT)]
    if 429 in spent:
        return False  # an earlier caller had this address: try another
    answer = httpx.post(f"{two}/graphql", json=body, headers=caller)
    if answer.status_code == 429:
        assert int(answer.headers["retry-after"]) >= 1
        return True
    return False
