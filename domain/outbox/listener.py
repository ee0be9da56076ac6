"""The process's one LISTEN connection: an asyncpg connection as the application role.

It listens on four channels (``domain/channels.py``) and relays each notice to whoever watches it in this
process: the events channel to the hub, the access channel to the access notices, the SLA channel to
``sla_watchers`` (the SLA scanner), the mail channel to ``mail_watchers`` (the mail worker). No other
connection of the process LISTENs.

It never reads events itself: a notification only tells the hub which tenant has news. Whenever the
connection is (re)established, LISTEN comes first and the hub's resync second, so an event committed
while the connection was down is found by the resync and one committed after LISTEN by its
notification (or by both, which the hub's marks make harmless). For the same reason the SLA and mail
watchers are woken once on every (re)connection: a notice sent while the connection was down is lost.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information
from sqlalchemy.engine import make_url

from domain.access import ACCESS_CHANNEL, AccessNotices
from domain.background import Worker, wait_for_signal
from domain.channels import EVENTS_CHANNEL, MAIL_CHANNEL, SLA_CHANNEL
from domain.outbox.hub import Hub

log = logging.getLogger(__name__)

# How the listening backend shows in pg_stat_activity.
LISTENER_APPLICATION_NAME = "incidentdesk-listener"


def asyncpg_dsn(url: str) -> str:
    """A libpq-style URL for asyncpg from any SQLAlchemy URL of the database."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class Listener(Worker):
    name = "outbox-listener"

    def __init__(
        self,
        url: str,
        hub: Hub,
        *,
        channel: str = EVENTS_CHANNEL,
        min_backoff: float = 0.1,
        max_backoff: float = 5.0,
        health_interval: float = 5.0,
        connect_timeout: float = 10.0,
        access: AccessNotices | None = None,
    ) -> None:
        super().__init__()
        self.dsn = asyncpg_dsn(url)
        self.hub = hub
        # Relayed access notices (membership changes...), so this process's caches of them stay true.
        self.access = access
        # Woken by every notice on the SLA channel (``events.announce_sla_due``) and on every (re)connection.
        self.sla_watchers: list[Callable[[], None]] = []
        # Woken by every notice on the mail channel (``channels.announce_mail``) and on every (re)connection.
        self.mail_watchers: list[Callable[[], None]] = []
        self.channel = channel
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.health_interval = health_interval
        self.connect_timeout = connect_timeout
        self.connected = asyncio.Event()
        self.connections = 0
        self.backend_pid: int | None = None

    async def run(self) -> None:
        backoff = self.min_backoff
        while True:
            try:
                connection = await asyncpg.connect(
                    self.dsn,
                    timeout=self.connect_timeout,
                    server_settings={"application_name": LISTENER_APPLICATION_NAME},
                )
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("LISTEN connection failed (%s); retrying in %.1fs", error, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            try:
                await self._serve(connection)
                backoff = self.min_backoff
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("LISTEN connection lost (%s); reconnecting in %.1fs", error, backoff)
            finally:
                self.connected.clear()
                self.backend_pid = None
                if self.access is not None:
                    self.access.set_listening(False)  # notices may go unheard until it is back
                if not connection.is_closed():
                    connection.terminate()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff)

    async def _serve(self, connection: asyncpg.Connection) -> None:
        """Listen until the connection is lost (terminated by the server, or failing its health check)."""
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _connection: lost.set())
        await connection.add_listener(self.channel, self._on_notification)
        await connection.add_listener(SLA_CHANNEL, self._on_sla_notice)
        await connection.add_listener(MAIL_CHANNEL, self._on_mail_notice)
        if self.access is not None:
            access = self.access
            await connection.add_listener(ACCESS_CHANNEL, lambda *_: access.changed())
            access.set_listening(True)
        self.backend_pid = connection.get_server_pid()
        self.connections += 1
        self.connected.set()
        self.hub.resync()
        self._wake_sla_watchers()
        self._wake(self.mail_watchers, "mail")
        log.info("listening on %s (backend %s)", self.channel, self.backend_pid)
        while not lost.is_set():
            if not await wait_for_signal(lost, self.health_interval):
                async with asyncio.timeout(self.health_interval):
                    await connection.fetchval("SELECT 1")
        raise ConnectionError("the server closed the LISTEN connection")

    def _on_notification(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        tenant, _, _event = payload.partition(":")
        try:
            tenant_id = uuid.UUID(tenant)
        except ValueError:
            log.warning("ignoring a malformed notification %r", payload)
            return
        self.hub.notify(tenant_id)

    def _on_sla_notice(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        self._wake_sla_watchers()

    def _on_mail_notice(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        self._wake(self.mail_watchers, "mail")

    def _wake(self, watchers: list[Callable[[], None]], channel: str) -> None:
        # One faulty watcher must not keep the notice from the others.
        for watcher in list(watchers):
            try:
                watcher()
            except Exception:
                log.exception("a watcher of the %s channel failed", channel)

    def _wake_sla_watchers(self) -> None:
        self._wake(self.sla_watchers, "SLA")
