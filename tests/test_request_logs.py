"""The logs of a real `incidentdesk serve`: one JSON line per request, per WebSocket operation and per
background round, each with its request id, caller, operation, duration and outcome, and never a token,
a comment's text or a variable's value.

The server is a subprocess with ``INCIDENTDESK_LOG_FORMAT=json``; its stderr is read back line by line.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from domain.db import Database
from domain.tenancy.roles import Role
from tests import factories as f
from tests.conftest import TestDatabase
from tests.live.ws import Socket
from tests.server import free_port, stop_process
from tests.waiting import PATIENCE, eventually

ROOT = Path(__file__).resolve().parents[1]

Line = dict[str, Any]


@dataclass
class World:
    incident: str  # global ID of acme's incident
    tenant_id: str
    token: str


@dataclass
class Server:
    url: str
    log: Path

    def lines(self) -> list[Line]:
        """Every line written so far, each parsed: a line that is not JSON fails the test here."""
        text = self.log.read_text()
        complete = text[: text.rfind("\n") + 1]
        return [json.loads(line) for line in complete.splitlines() if line.strip()]

    def wait_for(self, what: str, match: Callable[[Line], bool]) -> Line:
        def found() -> Line | None:
            return next((line for line in self.lines() if match(line)), None)

        line: Line = eventually(found, what)
        return line


@pytest_asyncio.fixture(scope="module")
async def world(test_db: TestDatabase, db: Database) -> World:
    settings = f.settings_for(test_db)
    acme = await f.create_tenant(db, "acme")
    await f.add_member(db, acme.id, "alice", Role.AGENT)
    incident = await f.report(db, f.actor("alice", {acme.id: Role.AGENT}), acme.id, "Logged")
    tokens = await f.mint_tokens(settings, db, "alice")
    return World(f.encode_id("Incident", incident.id), str(acme.id), tokens["alice"])


@pytest.fixture(scope="module")
def server(test_db: TestDatabase, world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    port = free_port()
    log = tmp_path_factory.mktemp("logs") / "serve.log"
    env = {
        **os.environ,
        "INCIDENTDESK_DATABASE_URL": test_db.owner_url,
        "INCIDENTDESK_APP_DATABASE_URL": test_db.app_url,
        "INCIDENTDESK_PUBLIC_URL": f.ISSUER,
        "INCIDENTDESK_AUDIENCE": f.AUDIENCE,
        "INCIDENTDESK_DB_POOL_SIZE": "5",
        "INCIDENTDESK_LOG_LEVEL": "info",
        "INCIDENTDESK_LOG_FORMAT": "json",
        # A chore's every round is logged: auto-close runs often enough to be seen.
        "INCIDENTDESK_AUTO_CLOSE_INTERVAL_SECONDS": "0.2",
    }
    command = [sys.executable, "-m", "api.cli", "serve", "--no-migrate", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=out)
    served = Server(f"http://127.0.0.1:{port}", log)

    def serving() -> bool:
        assert process.poll() is None, log.read_text()
        try:
            return httpx.get(f"{served.url}/healthz", timeout=PATIENCE).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        eventually(serving, "serve to answer /healthz", every=0.1)
        yield served
    finally:
        stop_process(process, PATIENCE)


def _request(request_id: str) -> Callable[[Line], bool]:
    return lambda line: line.get("event") == "request" and line.get("request_id") == request_id


def test_a_query_is_one_line_with_its_request_id_caller_and_operation(server: Server, world: World) -> None:
    response = f.post_graphql(
        server.url,
        world.token,
        "query Counted { incidents(first: 5) { totalCount edges { node { id } } } }",
        headers={"x-request-id": "query-1", "x-tenant": "acme"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-request-id"] == "query-1"
    line = server.wait_for("the query's line", _request("query-1"))
    assert line["level"] == "info"
    assert line["logger"] == "incidentdesk.requests"
    assert line["method"] == "POST" and line["path"] == "/graphql"
    assert line["status"] == 200 and line["outcome"] == "ok"
    assert line["principal"] == "alice"
    assert line["tenants"] == [world.tenant_id]
    assert line["operation"] == "Counted" and line["operation_type"] == "query"
    assert isinstance(line["duration_ms"], float | int) and line["duration_ms"] >= 0
    assert "timestamp" in line


def test_a_request_without_an_id_gets_one_echoed_and_logged(server: Server) -> None:
    response = httpx.get(f"{server.url}/readyz", timeout=PATIENCE)
    request_id = response.headers["x-request-id"]
    assert request_id
    line = server.wait_for("the probe's line", _request(request_id))
    assert line["path"] == "/readyz" and line["status"] == 200 and line["outcome"] == "ok"


def test_a_refused_mutation_logs_neither_token_nor_variables(server: Server, world: World) -> None:
    secret = f"NOTES-{uuid.uuid4().hex}"
    mutation = (
        "mutation Resolve($input: ResolveInput!) {"
        " resolveIncident(input: $input) { userErrors { field message } } }"
    )
    variables = {"input": {"id": world.incident, "expectedVersion": 999, "code": "FIXED", "notes": secret}}
    response = f.post_graphql(
        server.url, world.token, mutation, variables, headers={"x-request-id": "refused-1"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["resolveIncident"]["userErrors"], response.text
    line = server.wait_for("the mutation's line", _request("refused-1"))
    assert line["operation"] == "Resolve" and line["operation_type"] == "mutation"
    assert line["principal"] == "alice" and line["outcome"] == "ok"
    everything = server.log.read_text()
    assert secret not in everything
    assert world.token not in everything


async def test_a_subscription_is_one_line_when_it_ends_and_a_comment_never_appears(
    server: Server, world: World
) -> None:
    body = f"BODY-{uuid.uuid4().hex}"
    socket = await Socket.connected(server.url, world.token)
    try:
        await socket.subscribe("live-1", 'subscription Watch { incidentEvents(tenant: "acme") { cursor } }')

        def post_comment() -> bool:
            response = f.post_graphql(
                server.url,
                world.token,
                "mutation Comment($id: ID!, $body: String!) {"
                " addComment(input: {id: $id, body: $body}) { userErrors { message } } }",
                {"id": world.incident, "body": body},
            )
            assert response.status_code == 200, response.text
            return True

        # The subscription may not be open yet when the first comment commits: comment until one arrives.
        received = None
        for _ in range(20):
            post_comment()
            try:
                received = await socket.next("live-1", within=1.0)
                break
            except TimeoutError:
                continue
        assert received is not None, "the subscription never received an event"
        await socket.send({"id": "live-1", "type": "complete"})
        line = server.wait_for(
            "the operation's line",
            lambda line: line.get("event") == "websocket operation" and line.get("operation_id") == "live-1",
        )
    finally:
        await socket.close()
    assert line["operation"] == "Watch" and line["operation_type"] == "subscription"
    assert line["principal"] == "alice" and line["tenants"] == [world.tenant_id]
    assert line["outcome"] in ("ok", "stopped")
    assert line["request_id"]
    server.wait_for(
        "the connection's line",
        lambda other: other.get("event") == "websocket" and other.get("request_id") == line["request_id"],
    )
    everything = server.log.read_text()
    assert body not in everything
    assert world.token not in everything


def test_a_background_round_is_one_line_with_its_worker_duration_and_outcome(server: Server) -> None:
    line = server.wait_for("an auto-close round", lambda line: line.get("worker") == "auto-close")
    assert line["event"] == "job round" and line["logger"] == "incidentdesk.jobs"
    assert line["outcome"] == "ok" and line["duration_ms"] >= 0
    assert "request_id" not in line


def test_every_line_is_json_and_uvicorn_is_among_them(server: Server) -> None:
    lines = server.lines()
    assert any(line.get("logger", "").startswith("uvicorn") for line in lines), lines[:5]
    assert all({"event", "level", "timestamp"} <= line.keys() for line in lines)


@pytest.mark.parametrize(
    "framing",
    [b"Content-Length: 5000\r\n", b"Transfer-Encoding: chunked\r\n"],
    ids=["sized (read at the door)", "chunked (read by the endpoint)"],
)
def test_a_client_leaving_mid_body_is_one_info_line_not_an_error(server: Server, framing: bytes) -> None:
    request_id = f"gone-{uuid.uuid4().hex}"
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=PATIENCE) as conn:
        conn.sendall(
            b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"X-Request-Id: {request_id}\r\n".encode()
            + framing
            + b"\r\n"
            + (b"a\r\n" if b"chunked" in framing else b"")
            + b'{"query": '
        )
    line = server.wait_for("the abandoned request's line", _request(request_id))
    assert line["outcome"] == "client_gone" and line["level"] == "info"
    errors = [other for other in server.lines() if other["level"] == "error"]
    assert not errors, errors
