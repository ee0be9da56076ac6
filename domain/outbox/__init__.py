"""Live events: the outbox tables read back and fanned out to in-process subscribers.

Every change writes its event row (``incident_events`` or ``bulletin_events``) in its own transaction and
calls ``pg_notify('incidentdesk_events', '<tenant_id>:<event_id>')``, delivered only on commit. Both
tables are numbered by one per-tenant counter (``tenant_counters.last_event_seq``), allocated under the
counter's row lock, so within a tenant ``seq`` follows commit order.

Each process holds one ``Listener`` (an asyncpg connection as the application role, LISTENing on the
channel) feeding one ``Hub``; it is the process's only LISTEN connection, and also relays access notices
and the SLA channel's wake-ups to their watchers. A notification tells the hub that its tenant has news;
the hub reads that tenant's events past the last ``seq`` it dispatched (the notified one included, plus
any whose notification went missing) and hands each to its ``watchers`` (workers that react to changes)
and to the ``Feed`` of every subscriber of that tenant, which re-checks the subscriber's scope and
visibility. When the LISTEN connection drops, the listener
reconnects with backoff and the hub compares every tenant's counter with its marks and reads what it
missed: a restart of PostgreSQL loses nothing.

A ``Feed`` that asks for history (``after``) registers with the hub first, buffering, then replays the
stored events past its cursor, then drains the buffer skipping what it already delivered: no gap, no
duplicate. A subscriber that falls too far behind is not dropped: its buffer is discarded and it
replays from the database from where it was.
"""

from domain.outbox.hub import Feed, FeedClosed, Hub
from domain.outbox.listener import LISTENER_APPLICATION_NAME, Listener, asyncpg_dsn
from domain.outbox.store import LiveEvent

__all__ = ["LISTENER_APPLICATION_NAME", "Feed", "FeedClosed", "Hub", "Listener", "LiveEvent", "asyncpg_dsn"]
