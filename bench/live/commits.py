"""Changes committed through the API, as an agent's console commits them: GraphQL mutations over HTTP
with the tenant's AGENT token. A change's time is when the mutation's answer arrived (its transaction
had committed by then), on the wall clock (``time.time()``) that the client processes stamp receipts
with.

Two kinds of change:

- a comment (``addComment``) on the tenant's incident, named by its unique body; PUBLIC, or INTERNAL
  every ``internal_every``-th when asked, which only AGENTs may receive;
- a bulletin step (``postBulletinUpdate``) on the tenant's published bulletin, which flips the affected
  service between MAJOR_OUTAGE and PARTIAL_OUTAGE: one bulletin change and one service status change in
  one transaction, named by the bulletin's new ``updatedAt`` (the status change's ``at`` is the same
  instant).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx

from live.client import instant
from live.plan import Role
from live.seed import World

ADD_COMMENT = (
    "mutation Comment($input: CommentInput!) { addComment(input: $input)"
    " { event { message } userErrors { message } } }"
)
STEP_BULLETIN = (
    "mutation Step($input: BulletinUpdateInput!) { postBulletinUpdate(input: $input)"
    " { bulletins { updatedAt } userErrors { message } } }"
)
# The seeded bulletin declares MAJOR_OUTAGE; each step declares the other status of the two.
FLIP = {"MAJOR_OUTAGE": "PARTIAL_OUTAGE", "PARTIAL_OUTAGE": "MAJOR_OUTAGE"}


class Failed(Exception):
    """The server answered a mutation with an error (a fault, not a refusal): nothing was committed,
    since a use case commits only when it returns."""


@dataclass(frozen=True)
class Commit:
    key: str
    tenant: int
    internal: bool
    at: float

    @property
    def is_step(self) -> bool:
        return self.key.startswith("step:")


class Committer:
    """Commits through one server; bulletin steps of a tenant one at a time, so the status flips in
    the order the steps were sent."""

    def __init__(self, url: str, world: World) -> None:
        self.world = world
        self.http = httpx.AsyncClient(
            base_url=url, timeout=120, limits=httpx.Limits(max_connections=64, max_keepalive_connections=64)
        )
        self.status = dict.fromkeys(range(len(world.tenants)), "MAJOR_OUTAGE")
        self.step_locks = {t: asyncio.Lock() for t in range(len(world.tenants))}
        # Faults the server answered while measuring: those changes are not counted, and the run fails.
        self.failures: list[str] = []

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _mutate(self, tenant: int, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        token = self.world.tokens[(tenant, Role.AGENT)]
        answer = await self.http.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {token}"},
        )
        body: dict[str, Any] = answer.json()
        if body.get("errors"):
            raise Failed(f"{answer.status_code} {body['errors'][0].get('message')}")
        [payload] = body["data"].values()
        if payload["userErrors"]:
            raise RuntimeError(f"mutation refused: {payload['userErrors']}")  # the benchmark's own mistake
        return dict(payload)

    async def comment(self, tenant: int, body: str, internal: bool = False) -> Commit:
        comment = {
            "id": self.world.tenants[tenant].incident,
            "body": body,
            "visibility": "INTERNAL" if internal else "PUBLIC",
        }
        await self._mutate(tenant, ADD_COMMENT, {"input": comment})
        return Commit(f"comment:{body}", tenant, internal, time.time())

    async def step(self, tenant: int, body: str) -> Commit:
        seeded = self.world.tenants[tenant]
        async with self.step_locks[tenant]:
            status = FLIP[self.status[tenant]]
            update = {
                "id": seeded.bulletin,
                "phase": "IDENTIFIED",
                "body": body,
                "affectedServices": [{"serviceId": seeded.service, "status": status}],
            }
            payload = await self._mutate(tenant, STEP_BULLETIN, {"input": update})
            at = time.time()
            self.status[tenant] = status
        [bulletin] = payload["bulletins"]
        return Commit(f"step:{instant(bulletin['updatedAt'])}", tenant, False, at)

    async def warm_up(self, round_: int, steps: bool) -> None:
        """A PUBLIC comment in every tenant, and a bulletin step when some subscribers follow them."""
        tenants = range(len(self.world.tenants))
        changes = [self.comment(t, f"warm-up {round_}") for t in tenants]
        changes += [self.step(t, f"warm-up {round_}") for t in tenants] if steps else []
        # A warm-up change that failed is made up for by the next round.
        await asyncio.gather(*changes, return_exceptions=True)

    async def run(
        self, *, comments: int, rate: float, internal_every: int, step_interval: float | None
    ) -> list[Commit]:
        """``comments`` comments at ``rate`` per second over the tenants in turn and, every
        ``step_interval`` seconds while they last, a bulletin step in the tenants in turn. Each change
        is sent at its time whether or not the previous one has been answered, so a slow answer does
        not slow the rate."""
        tenants = len(self.world.tenants)
        start = time.monotonic()

        async def at(offset: float, change: Any) -> Commit | None:
            await asyncio.sleep(max(0.0, start + offset - time.monotonic()))
            try:
                result: Commit = await change()
            except Failed as failed:
                self.failures.append(str(failed))
                return None
            return result

        scheduled = []
        for i in range(comments):
            internal = internal_every > 0 and i % internal_every == internal_every - 1
            scheduled.append(at(i / rate, lambda i=i, n=internal: self.comment(i % tenants, f"event {i}", n)))
        if step_interval is not None:
            for k in range(int(comments / rate / step_interval)):
                scheduled.append(at(k * step_interval, lambda k=k: self.step(k % tenants, f"step {k}")))
        return [commit for commit in await asyncio.gather(*scheduled) if commit is not None]
