"""Every GraphQL and curl example of the README and of ``docs/`` runs against a live server with the demo.

One real uvicorn serves the real app on a copy of the migrated database, seeded by the demo exactly as
``incidentdesk demo`` seeds it; the examples then run in the order a reader meets them (the README first,
then the pages of ``docs/`` by name), so a page may build on what an earlier example of it did. GraphQL
blocks are POSTed over HTTP; shell blocks run in bash with the real curl, the documented address pointed
at the live server and the demo's tokens in the environment. Each must answer 2xx with no ``errors`` and
no ``userErrors``. Subscriptions are only validated against ``schema.graphql``: following one needs a
WebSocket, which the live tests exercise.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from graphql import GraphQLSchema, OperationType, build_schema, parse, validate
from graphql.language import OperationDefinitionNode
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.demo import seed
from auth import Authority
from domain.db import Database
from domain.settings import Settings
from domain.tenancy.roles import Role
from tests import factories as f
from tests.conftest import TestDatabase
from tests.docs.examples import (
    DOCUMENTED_URL,
    PLACEHOLDERS,
    Example,
    documentation,
    examples,
    unknown_placeholders,
)
from tests.server import serve
from tests.waiting import PATIENCE

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = [example for path in documentation(ROOT) for example in examples(path, ROOT)]

# Tokens never reach a failure message: the bodies of /oauth/token and the environment hold some.
_JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")

# bash runs each shell example with this first: curl fails on an HTTP error (and so the example, set -e
# with pipefail), and every body it prints is also kept for the test to look into. The real curl runs
# when the machine has one; otherwise tests/docs/curl_replay.py stands in for it.
_PREAMBLE = """\
set -euo pipefail
curl() {{
  {curl} "$@" | tee "$(mktemp "$EXAMPLE_BODIES/body.XXXXXX")"
}}
"""
REAL_CURL = "command curl --silent --show-error --fail-with-body"
REPLAYED_CURL = f"'{sys.executable}' -m tests.docs.curl_replay"


def _curl() -> str:
    return REAL_CURL if shutil.which("curl") else REPLAYED_CURL


@dataclass
class Demo:
    """The live server with the demo, and what the examples' placeholders and variables stand for."""

    url: str
    tokens: dict[str, str]  # by sender: carol, alice, mallory, root
    env: dict[str, str]  # for shell examples: the demo's token variables, the partner's credentials
    placeholders: dict[str, str] = field(default_factory=dict)

    def post(self, sender: str, query: str, variables: Any = None) -> httpx.Response:
        headers = {"authorization": f"Bearer {self.tokens[sender]}"} if sender in self.tokens else {}
        return httpx.post(
            f"{self.url}/graphql",
            json={"query": query, "variables": variables},
            headers=headers,
            timeout=PATIENCE,
        )

    def data(self, sender: str, query: str, variables: Any = None) -> dict[str, Any]:
        response = self.post(sender, query, variables)
        assert response.status_code == 200, response.text[:500]
        body: dict[str, Any] = response.json()
        assert not body.get("errors"), body["errors"]
        data: dict[str, Any] = body["data"]
        return data

    def incident_version(self) -> str:
        """Read as the example runs, so that successive steps of a page each name the current one."""
        data = self.data(
            "alice",
            "query($id: ID!) { node(id: $id) { ... on Incident { version } } }",
            {"id": self.placeholders["<incidentId>"]},
        )
        return str(data["node"]["version"])

    def fill(self, text: str) -> str:
        text = text.replace(DOCUMENTED_URL, self.url)
        if "<incidentVersion>" in text:
            text = text.replace("<incidentVersion>", self.incident_version())
        for placeholder, value in self.placeholders.items():
            text = text.replace(placeholder, value)
        return text


@pytest.fixture(scope="module")
def settings(test_db: TestDatabase) -> Settings:
    # The partner example's webhook endpoint is the test's receiver, on loopback.
    return f.settings_for(test_db, webhook_allow_private_targets=True)


@pytest.fixture(scope="module")
def receiver() -> Iterator[str]:
    """A partner's webhook endpoint: takes every delivery, so none is retried while the examples run."""

    async def delivered(request: Request) -> Response:
        return Response(status_code=204)

    with serve(Starlette(routes=[Route("/incidentdesk", delivered, methods=["POST"])])) as url:
        yield f"{url}/incidentdesk"


@pytest.fixture(scope="module")
def live(test_db: TestDatabase, settings: Settings) -> Iterator[f.LiveApp]:
    with f.app_server(test_db, settings) as served:
        yield served


@pytest_asyncio.fixture(scope="module")
async def demo(live: f.LiveApp, settings: Settings, db: Database, receiver: str) -> Demo:
    authority = Authority(settings, db)
    try:
        seeded = await seed(db, authority)
        acme = seeded.tenants["acme"]
        # A partner integration's OAuth client, as `incidentdesk client create` registers it.
        client_id, client_secret = await authority.create_client(
            acme.id, "Docs partner", ["incidents:read", "incidents:write"], Role.AGENT
        )
    finally:
        await authority.aclose()
    # The README's SLA example names a tenant of one's own: the demo's tenants have a contract already.
    initech = await f.create_tenant(db, "initech", name="Initech", timezone="Europe/Berlin")
    await f.add_member(db, initech.id, "mallory", Role.MANAGER)

    tokens = {subject.split("@")[0]: token for subject, token in seeded.tokens.items()}
    env = {f"{sender.upper()}_TOKEN": token for sender, token in tokens.items()}
    env.update(CLIENT_ID=client_id, CLIENT_SECRET=client_secret)
    found = Demo(url=live.url, tokens=tokens, env=env)
    key = found.data(
        "mallory",
        'mutation { createIntegrationKey(input: {tenant: "acme", name: "Docs monitoring"}) {'
        " integrationKey { routingKey } userErrors { message } } }",
    )["createIntegrationKey"]
    new = found.data(
        "alice",
        '{ incidents(first: 1, filter: {tenant: "acme", status: [NEW]}) { edges { node { id } } } }',
    )["incidents"]["edges"]
    services = found.data("alice", '{ services(tenant: "acme", first: 20) { edges { node { id name } } } }')
    web_shop = next(e["node"]["id"] for e in services["services"]["edges"] if e["node"]["name"] == "Web shop")
    assert new, "the demo seeds a NEW incident at acme"
    found.placeholders = {
        "<routingKey>": key["integrationKey"]["routingKey"],
        "<incidentId>": new[0]["node"]["id"],
        "<serviceId>": web_shop,
        "<webhookUrl>": receiver,
    }
    assert set(found.placeholders) | {"<incidentVersion>"} == set(PLACEHOLDERS)
    return found


@pytest.fixture(scope="module")
def schema() -> GraphQLSchema:
    return build_schema((ROOT / "schema.graphql").read_text(encoding="utf-8"))


def _user_errors(value: Any) -> list[Any]:
    """Every non-empty ``userErrors`` anywhere in an answer."""
    if isinstance(value, dict):
        found = [value["userErrors"]] if value.get("userErrors") else []
        return found + [e for item in value.values() for e in _user_errors(item)]
    if isinstance(value, list):
        return [e for item in value for e in _user_errors(item)]
    return []


def _assert_answer_clean(body: Any, where: str) -> None:
    assert isinstance(body, dict), f"{where}: not a JSON object"
    assert not body.get("errors"), f"{where}: {body['errors']}"
    assert not _user_errors(body), f"{where}: {_user_errors(body)}"


def _redacted(text: str, demo: Demo) -> str:
    for secret in (*demo.tokens.values(), demo.env["CLIENT_SECRET"]):
        text = text.replace(secret, "<redacted>")
    return _JWT.sub("<redacted>", text)[-2000:]


def test_the_guide_explains_every_placeholder() -> None:
    guide = (ROOT / "docs" / "api-guide.md").read_text(encoding="utf-8")
    unexplained = [p for p in PLACEHOLDERS if f"| `{p}` |" not in guide]
    assert not unexplained, f"add rows to the placeholder table of docs/api-guide.md: {unexplained}"


def test_the_documentation_has_examples() -> None:
    kinds = {example.kind for example in EXAMPLES}
    assert kinds == {"graphql", "shell"}, kinds
    assert any(e.where.startswith("docs/") for e in EXAMPLES)


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.where for e in EXAMPLES])
def test_example_runs(example: Example, demo: Demo, schema: GraphQLSchema, tmp_path: Path) -> None:
    unknown = unknown_placeholders(example.text + (example.variables or ""))
    assert not unknown, (
        f"{example.where}: placeholders {sorted(unknown)} are not among {sorted(PLACEHOLDERS)}"
    )
    if example.kind == "graphql":
        _run_graphql(example, demo, schema)
    else:
        _run_shell(example, demo, tmp_path)


def _run_graphql(example: Example, demo: Demo, schema: GraphQLSchema) -> None:
    assert example.sender in (*demo.tokens, "anyone"), f"{example.where}: who is {example.sender!r}?"
    query = demo.fill(example.text)
    document = parse(query)
    problems = validate(schema, document)
    assert not problems, f"{example.where}: {[p.message for p in problems]}"
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if any(o.operation is OperationType.SUBSCRIPTION for o in operations):
        return  # valid against the schema; following it needs a WebSocket
    variables = json.loads(demo.fill(example.variables)) if example.variables else None
    response = demo.post(example.sender, query, variables)
    assert 200 <= response.status_code < 300, f"{example.where}: HTTP {response.status_code}"
    _assert_answer_clean(response.json(), example.where)


def _run_shell(example: Example, demo: Demo, tmp_path: Path, *, curl: str | None = None) -> None:
    bash = shutil.which("bash")
    assert bash, "the shell examples run with bash"
    bodies = tmp_path / "bodies"
    bodies.mkdir(parents=True)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT),  # for the replay of curl
        "EXAMPLE_BODIES": str(bodies),
        **demo.env,
    }
    done = subprocess.run(
        [bash, "-c", _PREAMBLE.format(curl=curl or _curl()) + demo.fill(example.text)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=2 * PATIENCE,
    )
    assert done.returncode == 0, (
        f"{example.where}: exit {done.returncode}\n{_redacted(done.stderr, demo)}\n{_redacted(done.stdout, demo)}"
    )
    answers = sorted(bodies.iterdir())
    assert answers, f"{example.where}: no request was made"
    for answer in answers:
        try:
            body = json.loads(answer.read_text(encoding="utf-8"))
        except ValueError:
            continue  # a CSV report or an HTML page: its 2xx is the check
        _assert_answer_clean(body, example.where)


def test_the_replay_of_curl_runs_the_examples_too(demo: Demo, tmp_path: Path) -> None:
    """Where the machine has no curl, the replay stands in: it must answer the examples as curl does."""
    shell = [e for e in EXAMPLES if e.kind == "shell"]
    for number, example in enumerate(e for e in shell if "/oauth/token" in e.text or "--get" in e.text):
        _run_shell(example, demo, tmp_path / str(number), curl=REPLAYED_CURL)
