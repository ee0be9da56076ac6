"""Live results sent to a whole group of subscribers at once.

Subscribers who would see an event alike (``shared_render.py``: the same document, operation, variables
and sight) form a group with one feed on the hub. For each event the group runs the selection once, with
the executor of one of its members, makes the message's JSON once, and writes it to every member's socket
around the member's own operation id, in one pass. A member's own subscription (Strawberry's stream for
it) meanwhile waits and sends nothing: per event and subscriber, what is left is writing the frame.

A member's socket that cannot take a message at once (the client reads slowly) gets it later, the ASGI
way, from the member's own bounded buffer; the others are not held up. A member whose buffer fills
(``live_feed_capacity`` messages) leaves the group: its buffer is dropped and its subscription goes on
by itself, from a feed that first replays from the database what the member was not sent, as any
subscriber that falls behind does. Nothing is lost and nothing is sent twice.

A member joins with the hub's marks of the moment, and is sent only the events after them; it leaves
when its subscription ends (completed, stopped, its connection closed or its rights changed).

A subscription that shows a whole page (``Page``: the public status page) is sent the page as it is
when it joins, then the page again after each change, but never the same page twice in a row: each member
remembers what it was last shown. Its group's messages wait in the member's buffer until its first page
has left, so that nothing arrives before it.

Subscriptions that start from a cursor (``after``), and those whose transport offers no place in a
group (no WebSocket operation), use a feed of their own, as before.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import uuid
import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

from graphql import ExecutionResult

from api.context import Context
from api.errors import MASKED_MESSAGE, ClientError, MaskServerErrors, should_mask
from api.graphql.shared_render import SUBSCRIBING, SharedEventRendering
from domain.outbox import Hub, LiveEvent
from domain.outbox.hub import Accept, Feed, FeedClosed, TooManyFeeds

log = logging.getLogger(__name__)

# What a subscription yields for an event, or None when the event turns out to be nothing for it.
Make = Callable[[LiveEvent], Any]


class Ended(Exception):
    """Raised by a ``Make``: the subscription is over for everyone it serves (a status page switched
    off). Its subscribers' subscriptions complete."""


@dataclass(frozen=True)
class Page:
    """A subscription that shows a whole page rather than a stream of events.

    ``first`` makes the page as of the hub's marks given (every event up to them shown), None when there
    is no page (the subscription ends); ``seen`` is what a viewer sees of a value: a value seen alike to
    the last one a subscriber was sent is not sent to it again."""

    first: Callable[[Mapping[uuid.UUID, int]], Awaitable[Any]]
    seen: Callable[[Any], Hashable]


class Socket(Protocol):
    """The WebSocket of a live operation (``graphql_view.DirectWebSocketAdapter``)."""

    def send_now(self, message: bytes) -> bool: ...

    async def send_later(self, message: bytes) -> None: ...


@dataclass(frozen=True)
class LiveOperation:
    """A subscription running over a WebSocket: its id, the type of its result messages in its
    subprotocol ("next" or "data"), and its socket."""

    id: str
    message_type: str
    socket: Socket


# Set by the WebSocket handlers in each operation's task (``api/ws_auth.py``).
LIVE_OPERATION: ContextVar[LiveOperation | None] = ContextVar("incidentdesk.live_operation", default=None)


def _compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


_MASK = MaskServerErrors(should_mask_error=should_mask, error_message=MASKED_MESSAGE)


class Member:
    """One subscription in a group: what it was sent, and what waits for its socket."""

    def __init__(
        self,
        operation: LiveOperation,
        executor: SharedEventRendering,
        start: dict[uuid.UUID, int],
        capacity: int,
        holding: bool = False,
    ) -> None:
        self.operation = operation
        self.executor = executor
        self.capacity = capacity
        # Its messages up to their payload, which the group's rendering completes.
        self.opening = (
            f'{{"id":{_compact(operation.id)},"type":"{operation.message_type}","payload":'.encode()
        )
        # Events up to these seqs are not for it: they were dispatched before it joined.
        self.start = start
        # The last seq per tenant whose message left for its socket (or was not for it).
        self.sent = dict(start)
        # Messages for its socket, in order; None stands for an event it was not sent (the page it would
        # have shown was the one it was shown last).
        self._waiting: deque[tuple[uuid.UUID, int, bytes | None, Hashable | None]] = deque()
        self._sender: asyncio.Task[None] | None = None
        # Set until its first page has left (a ``Page`` subscription): its messages wait behind it.
        self.holding = holding
        # What the last page it was sent showed (``Page.seen``).
        self.shown: Hashable | None = None
        # Set when it fell too far behind: it leaves its group.
        self.group_left = False
        # Set when its group's feed ended (the process is stopping): its subscription ends too.
        self.finished = False
        # Resolved once it has left its group and sent what it had in flight: it goes on alone.
        self.behind: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def deliver(self, event: LiveEvent, payload: bytes, seen: Hashable | None = None) -> None:
        """Send the group's ``payload`` for ``event`` (``seen``: what it shows, for a page)."""
        if self.behind.done() or event.seq <= self.start.get(event.tenant_id, 0):
            return
        text = self.opening + payload + b"}"
        wanted: bytes | None = text
        if not self.holding:
            wanted, seen = self._unless_shown(text, seen), None
        if not self._waiting and self._idle and not self.holding:
            if wanted is None or self.operation.socket.send_now(wanted):
                self.sent[event.tenant_id] = event.seq
                return
        if len(self._waiting) >= self.capacity:
            self._fall_behind()
            return
        self._waiting.append((event.tenant_id, event.seq, wanted, seen))
        if self._idle and not self.holding:
            self._sender = asyncio.create_task(self._send_waiting())

    def _unless_shown(self, text: bytes | None, seen: Hashable | None) -> bytes | None:
        """The message, or None when it shows the page this member was shown last."""
        if seen is None:
            return text
        if seen == self.shown:
            return None
        self.shown = seen
        return text

    def release(self, shown: Hashable) -> None:
        """Its first page, showing ``shown``, has left: what waited behind it follows, but for pages
        that show the same as the one before."""
        self.holding = False
        self.shown = shown
        held, self._waiting = self._waiting, deque()
        for tenant_id, seq, text, seen in held:
            self._waiting.append((tenant_id, seq, self._unless_shown(text, seen), None))
        if self._waiting and not self.behind.done():
            self._sender = asyncio.create_task(self._send_waiting())

    @property
    def _idle(self) -> bool:
        """No message of its is on its way to the socket the ASGI way."""
        return self._sender is None or self._sender.done()

    async def _send_waiting(self) -> None:
        try:
            while self._waiting:
                tenant_id, seq, text, _ = self._waiting.popleft()
                if text is not None:
                    await self.operation.socket.send_later(text)
                self.sent[tenant_id] = max(seq, self.sent.get(tenant_id, 0))
        except Exception:
            # The connection is going: its handler ends the subscription.
            self._waiting.clear()
        finally:
            if self.group_left and not self.behind.done():
                self.behind.set_result(None)

    def _fall_behind(self) -> None:
        """Too far behind: drop the buffer and go on alone, from what was sent (see the module)."""
        self.group_left = True
        self._waiting.clear()
        if self._idle and not self.behind.done():
            self.behind.set_result(None)

    def finish(self) -> None:
        """Its group's feed ended: the subscription ends, as one with a feed of its own would."""
        self.finished = True
        if not self.behind.done():
            self.behind.set_result(None)

    def stop(self) -> None:
        if self._sender is not None:
            self._sender.cancel()


class Group:
    """Subscribers who see events alike, one feed and one render per event for all of them."""

    def __init__(
        self, groups: dict[Hashable, Group], key: Hashable, feed: Feed, make: Make, page: Page | None = None
    ) -> None:
        self._groups = groups
        self.key = key
        self.feed = feed
        self.make = make
        self.page = page
        self.members: dict[Member, None] = {}
        self.renders = 0
        self._task = asyncio.create_task(self._run())

    def add(self, member: Member) -> None:
        self.members[member] = None

    def discard(self, member: Member) -> None:
        self.members.pop(member, None)
        if not self.members:
            self.close()

    def close(self) -> None:
        if self._groups.get(self.key) is self:
            del self._groups[self.key]
        self.feed.close()
        self._task.cancel()

    async def _run(self) -> None:
        try:
            while True:
                try:
                    events = await self.feed.batch()
                except FeedClosed:
                    break
                if self.page is not None:
                    # A page shows everything up to its read: changes that arrived together (a bulletin
                    # and the status change it made) are one read and one page.
                    events = list({event.tenant_id: event for event in events}.values())
                for event in events:
                    await self._send(event)
            # The feed was closed under the group (the hub stopped): its subscriptions end with it.
            self._finish()
        except Ended:
            self._finish()
        except asyncio.CancelledError:
            raise
        except Exception:
            # Every member goes on alone from what it was sent; the group is no more.
            log.exception("a live group failed; its subscribers go on alone")
            for member in list(self.members):
                member._fall_behind()
            self.members.clear()
            self.close()

    async def _send(self, event: LiveEvent) -> None:
        """Make and render the event's value once, and hand every member its message."""
        value = await _made(self.make, event)
        if value is None or not self.members:
            return
        seen = self.page.seen(value) if self.page is not None else None
        result = await self._render(value)
        self.renders += 1
        payload: dict[str, Any] = {"data": result.data}
        if result.errors:
            payload["errors"] = [error.formatted for error in _MASK._process_errors(result.errors)]
        encoded = _compact(payload).encode()
        for member in list(self.members):
            member.deliver(event, encoded, seen)
            if member.group_left:
                self.members.pop(member, None)

    def _finish(self) -> None:
        for member in list(self.members):
            member.finish()
        self.members.clear()
        self.close()

    async def _render(self, value: Any) -> ExecutionResult:
        # The value was made (``make``) with the event's fresh loaders, in this task.
        executor = next(iter(self.members)).executor
        result = executor.build_per_event_executor(value).execute_operation(False)
        if inspect.isawaitable(result):
            result = await result
        assert isinstance(result, ExecutionResult)
        return result


async def _made(make: Make, event: LiveEvent) -> Any:
    made = make(event)
    return await made if inspect.isawaitable(made) else made


_GROUPS: weakref.WeakKeyDictionary[Hub, dict[Hashable, Group]] = weakref.WeakKeyDictionary()


def groups_of(hub: Hub) -> dict[Hashable, Group]:
    return _GROUPS.setdefault(hub, {})


async def live(
    ctx: Context,
    hub: Hub,
    tenants: Iterable[uuid.UUID],
    accept: Accept,
    make: Make,
    after: Mapping[uuid.UUID, int] | None = None,
    page: Page | None = None,
) -> AsyncIterator[Any]:
    """What a subscription yields: the events of ``tenants`` that ``accept`` admits, each made into the
    subscription's value by ``make`` (None: skipped; ``Ended``: the subscription completes). With
    ``page``, the page first and then only pages that show something new. In a group when it can be, by
    itself otherwise."""
    tenants = frozenset(tenants)
    principal = ctx.principal
    holder = (principal.issuer, principal.subject) if principal is not None else None
    limit = ctx.settings.max_subscriptions_per_principal
    operation = LIVE_OPERATION.get()
    executor = SUBSCRIBING.get()
    key = executor.group_key() if executor is not None else None
    try:
        hub.hold(holder, limit)
    except TooManyFeeds as refused:
        raise ClientError(str(refused), "LIMIT_EXCEEDED") from None
    try:
        resume = dict(after or {})
        # Whether the page was sent, and what the last page sent showed.
        paged, shown = False, None
        if operation is not None and executor is not None and key is not None and not resume:
            groups = groups_of(hub)
            group = groups.get(key)
            if group is None:
                feed = hub.open(tenants, accept, subscription=False)
                group = groups[key] = Group(groups, key, feed, make, page)
            start = {t: hub.marks.get(t, 0) for t in tenants}
            member = Member(operation, executor, start, hub.feed_capacity, holding=page is not None)
            group.add(member)
            try:
                if page is not None:
                    first = await page.first(start)
                    if first is None:
                        return
                    yield first
                    paged = True
                    member.release(page.seen(first))
                await asyncio.shield(member.behind)
            finally:
                group.discard(member)
                member.stop()
            if member.finished:
                return
            resume, shown = member.sent, member.shown
        async with hub.open(tenants, accept, resume, subscription=False) as feed:
            if page is not None and not paged:
                # Opened before the page is read: a change committed in between is not missed.
                first = await page.first(dict(feed.delivered))
                if first is None:
                    return
                shown = page.seen(first)
                yield first
            async for event in feed:
                try:
                    value = await _made(make, event)
                except Ended:
                    return
                if value is None:
                    continue
                if page is not None:
                    seen = page.seen(value)
                    if seen == shown:
                        continue
                    shown = seen
                yield value
    finally:
        hub.release(holder)
