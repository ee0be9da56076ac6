"""The per-process fan-out: one ``Hub`` reads each tenant's new events once and offers them to every
``Feed`` (one per live subscription) of that tenant."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Mapping
from types import TracebackType

from domain.background import Worker
from domain.db import Database
from domain.outbox import store
from domain.outbox.store import LiveEvent

log = logging.getLogger(__name__)

Accept = Callable[[LiveEvent], bool]


class FeedClosed(Exception):
    """The feed was closed: its subscriber left, or the process is shutting down."""


class TooManyFeeds(Exception):
    """The caller holds as many feeds as it may; it must close one before opening another."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"at most {limit} subscriptions at once per caller")
        self.limit = limit


class Hub(Worker):
    """Dispatches every tenant's committed events in ``seq`` order, each exactly once per process.

    ``marks[tenant]`` is the last ``seq`` dispatched. ``notify`` (from the listener) marks a tenant as
    having news; ``resync`` (after every (re)connection of the listener) compares all tenants' counters
    with the marks. One worker task does the reading, so dispatch order is ``seq`` order.
    """

    name = "outbox-hub"

    def __init__(
        self,
        db: Database,
        *,
        feed_capacity: int = 1000,
        page: int = store.PAGE,
        retry_seconds: float = 0.5,
    ) -> None:
        super().__init__()
        self.db = db
        self.feed_capacity = feed_capacity
        self.page = page
        self.retry_seconds = retry_seconds
        self.marks: dict[uuid.UUID, int] = {}
        self.ready = False
        self.dispatched = 0
        self._feeds: dict[uuid.UUID, set[Feed]] = {}
        # Open feeds per holder (a caller), for the per-caller cap.
        self._held: dict[Hashable, int] = {}
        self._subscriptions = 0
        # Called with every event dispatched, of every tenant (background tasks that react to changes).
        self.watchers: list[Callable[[LiveEvent], None]] = []
        # Called with every live event as a subscriber takes it from its feed (replays from the database
        # are history and are not reported): the metrics measure commit-to-delivery lag there.
        self.delivery_watchers: list[Callable[[LiveEvent], None]] = []
        self._pending: set[uuid.UUID] = set()
        self._resync = False
        self._wake = asyncio.Event()

    # ------------------------------------------------------------ lifecycle

    async def stop(self) -> None:
        await super().stop()
        for feeds in list(self._feeds.values()):
            for feed in list(feeds):
                feed.close()

    # ------------------------------------------------------------ signals from the listener

    def notify(self, tenant_id: uuid.UUID) -> None:
        self._pending.add(tenant_id)
        self._wake.set()

    def resync(self) -> None:
        self._resync = True
        self._wake.set()

    # ------------------------------------------------------------ subscribers

    def open(
        self,
        tenant_ids: Iterable[uuid.UUID],
        accept: Accept,
        after: Mapping[uuid.UUID, int] | None = None,
        *,
        subscription: bool = True,
    ) -> Feed:
        """A feed of the tenants' events that ``accept`` admits: live ones from now on, preceded for
        the tenants in ``after`` by the stored ones past the given ``seq``.

        A feed counts as one (anonymous) subscription (``subscription``) unless it serves subscriptions
        that ``hold`` their places themselves, with the caller's cap (``api/graphql/broadcast.py``)."""
        if subscription:
            self.hold(None, None)
        tenants = frozenset(tenant_ids)
        after = dict(after or {})
        start = {t: after[t] if t in after else self.marks.get(t, 0) for t in tenants}
        feed = Feed(self, tenants, accept, start, replay=set(after) & tenants, held=subscription)
        for t in tenants:
            self._feeds.setdefault(t, set()).add(feed)
        return feed

    def hold(self, holder: Hashable | None, limit: int | None) -> None:
        """Count one more subscription of ``holder`` (None: an anonymous one), or refuse it with
        ``TooManyFeeds`` when the holder has ``limit`` already."""
        if holder is not None:
            if limit is not None and self._held.get(holder, 0) >= limit:
                raise TooManyFeeds(limit)
            self._held[holder] = self._held.get(holder, 0) + 1
        self._subscriptions += 1

    def release(self, holder: Hashable | None) -> None:
        """One subscription of ``holder`` ended."""
        self._subscriptions -= 1
        if holder is not None:
            left = self._held.get(holder, 0) - 1
            if left > 0:
                self._held[holder] = left
            else:
                self._held.pop(holder, None)

    def held_by(self, holder: Hashable) -> int:
        """How many open feeds ``holder`` has in this process."""
        return self._held.get(holder, 0)

    async def backlog(self) -> int | None:
        """Events committed that this process has not dispatched yet (one read of every tenant's
        counter), or None before the hub has first read the counters: everything would look new."""
        if not self.ready:
            return None
        counters = await store.high_water_marks(self.db)
        return sum(max(0, seq - self.marks.get(tenant_id, 0)) for tenant_id, seq in counters.items())

    def subscriber_count(self) -> int:
        """Live subscriptions in this process, whether each has a feed or shares its group's."""
        return self._subscriptions

    def _delivered(self, events: list[LiveEvent]) -> None:
        for watcher in self.delivery_watchers:
            for event in events:
                try:
                    watcher(event)
                except Exception:
                    log.exception("a watcher of live deliveries failed")

    def _forget(self, feed: Feed) -> None:
        if feed.held:
            self.release(None)
        for t in feed.tenants:
            feeds = self._feeds.get(t)
            if feeds is not None:
                feeds.discard(feed)
                if not feeds:
                    del self._feeds[t]

    # ------------------------------------------------------------ the worker

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                if self._resync:
                    self._resync = False
                    await self._do_resync()
                if not self.ready:
                    continue
                while self._pending:
                    # Taken off before reading: news arriving while this tenant is read marks it again.
                    tenant_id = min(self._pending)
                    self._pending.discard(tenant_id)
                    try:
                        await self._catch_up(tenant_id)
                    except BaseException:
                        self._pending.add(tenant_id)
                        raise
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reading the outbox failed; retrying")
                await asyncio.sleep(self.retry_seconds)
                self._wake.set()

    async def _do_resync(self) -> None:
        try:
            counters = await store.high_water_marks(self.db)
        except Exception:
            self._resync = True
            raise
        if not self.ready:
            # First contact: everything committed so far is history, not news.
            for tenant_id, seq in counters.items():
                self.marks.setdefault(tenant_id, seq)
            self.ready = True
        for tenant_id, seq in counters.items():
            if seq > self.marks.get(tenant_id, 0):
                self._pending.add(tenant_id)

    async def _catch_up(self, tenant_id: uuid.UUID) -> None:
        while True:
            events = await store.events_after(self.db, tenant_id, self.marks.get(tenant_id, 0), self.page)
            self.dispatch(events)
            if len(events) < self.page:
                return

    def dispatch(self, events: Iterable[LiveEvent]) -> None:
        """Offer each event not yet dispatched to the feeds of its tenant (no await: marks and offers
        change together, so a feed opened between two dispatches misses nothing)."""
        for event in events:
            if event.seq <= self.marks.get(event.tenant_id, 0):
                continue
            self.marks[event.tenant_id] = event.seq
            self.dispatched += 1
            # One faulty subscriber or watcher must not cost the others this event.
            for watcher in self.watchers:
                try:
                    watcher(event)
                except Exception:
                    log.exception("a watcher of the outbox failed")
            for feed in tuple(self._feeds.get(event.tenant_id, ())):
                try:
                    feed.offer(event)
                except Exception:
                    log.exception("a subscriber's filter failed; closing its feed")
                    feed.close()


class Feed:
    """One subscriber's ordered stream of events; iterate it, and close it (or use ``async with``)."""

    def __init__(
        self,
        hub: Hub,
        tenants: frozenset[uuid.UUID],
        accept: Accept,
        start: dict[uuid.UUID, int],
        replay: set[uuid.UUID],
        held: bool = True,
    ) -> None:
        self.hub = hub
        # Whether this feed counts as one subscription (released when it closes).
        self.held = held
        self.tenants = tenants
        self.accept = accept
        # The last seq this feed has passed on (or skipped as not for it), per tenant.
        self.delivered = start
        self._replay = replay
        self._queue: deque[LiveEvent] = deque()
        # Taken from the queue or the database, not yet handed to the iterating subscriber.
        self._ready: deque[LiveEvent] = deque()
        self._wake = asyncio.Event()
        self._lagged = False
        self.closed = False
        self.replays = 0

    def offer(self, event: LiveEvent) -> None:
        if self.closed or self._lagged or not self.accept(event):
            return
        if len(self._queue) >= self.hub.feed_capacity:
            # Too far behind: drop the buffer and catch up from the database instead.
            self._lagged = True
            self._queue.clear()
        else:
            self._queue.append(event)
        self._wake.set()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.hub._forget(self)
            self._queue.clear()
            self._wake.set()

    async def __aenter__(self) -> Feed:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __aiter__(self) -> Feed:
        return self

    async def __anext__(self) -> LiveEvent:
        while not self._ready:
            try:
                self._ready.extend(await self.batch())
            except FeedClosed:
                raise StopAsyncIteration from None
        return self._ready.popleft()

    async def batch(self) -> list[LiveEvent]:
        """The next events for this subscriber, at least one, in ``seq`` order per tenant."""
        while True:
            if self.closed:
                raise FeedClosed
            if self._lagged:
                self._lagged = False
                self._queue.clear()
                self._replay = set(self.tenants)
            if self._replay:
                tenant_id = min(self._replay)
                events = await store.events_after(
                    self.hub.db, tenant_id, self.delivered[tenant_id], self.hub.page
                )
                if len(events) < self.hub.page:
                    self._replay.discard(tenant_id)
                self.replays += 1
                fresh = self._take(events, check=True)
                if fresh:
                    return fresh
                continue
            if self._queue:
                fresh = self._take(self._queue, check=False)
                self._queue.clear()
                if fresh:
                    self.hub._delivered(fresh)
                    return fresh
                continue
            self._wake.clear()
            await self._wake.wait()

    def _take(self, events: Iterable[LiveEvent], *, check: bool) -> list[LiveEvent]:
        fresh = []
        for event in events:
            if event.seq <= self.delivered.get(event.tenant_id, 0):
                continue
            self.delivered[event.tenant_id] = event.seq
            if not check or self.accept(event):
                fresh.append(event)
        return fresh
