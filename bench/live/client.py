"""A client process: holds its share of the subscribers' sockets and notes what each receives.

The parent sends commands over a pipe and gets one answer per command:

- ``"heard"``: how many of this process's subscribers received anything yet, a result or an error (the
  warm-up's question);
- ``"count"``: how many results arrived in all (to know when deliveries have stopped);
- ``"finish"``: close every socket and answer each subscriber's receipts.

A receipt is (key, ``time.time()``): the key names what the result shows (a comment's message, a status
change's time, a public page's latest bulletin update), and the wall clock is the one the committing
parent stamps its commits with, on the same machine. A message is timed as it arrives and read after the
run: parsing thousands of results during a burst would delay the next receipts, counting the client's
own work as the server's latency. Only short protocol messages (pings, keep-alives) are read at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import multiprocessing
import resource
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from live.plan import TRANSPORT, Kind, Spec

OPENING_CONCURRENCY = 50

Receipt = tuple[str, float]


@dataclass(frozen=True)
class Report:
    """What one subscriber received, and the protocol errors it saw (an error ends a subscription)."""

    index: int
    receipts: list[Receipt]
    errors: list[str]


def instant(value: str) -> str:
    """One spelling of a DateTime, however the field wrote it, to match a mutation's answer."""
    return datetime.fromisoformat(value).astimezone(UTC).isoformat(timespec="microseconds")


def key_of(kind: Kind, data: dict[str, Any]) -> str:
    """What a result shows, named as ``commits`` names what it committed."""
    if kind is Kind.EVENTS:
        return f"comment:{data['incidentEvents']['message']}"
    if kind is Kind.STATUS:
        return f"step:{instant(data['serviceStatusChanged']['at'])}"
    bulletins = data["publicStatusChanged"]["activeBulletins"]
    latest = max((instant(b["updatedAt"]) for b in bulletins), default="none")
    return f"step:{latest}"


# Messages shorter than this are protocol chatter (a ping, a keep-alive), read as they arrive; results
# are longer.
SHORT = 64


@dataclass
class Subscriber:
    spec: Spec
    connection: ClientConnection
    # Each message, as it arrived, and when; read by ``receipts`` once the run is over.
    arrivals: list[tuple[bytes, float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def listen(self) -> None:
        with contextlib.suppress(Exception):
            while True:
                raw = await self.connection.recv(decode=False)
                if len(raw) >= SHORT:
                    self.arrivals.append((raw, time.time()))
                    continue
                message = json.loads(raw)
                if message.get("type") == "ping":
                    await self.connection.send('{"type":"pong"}')
                elif message.get("type") in ("error", "complete"):
                    self.errors.append(raw.decode()[:200])

    def receipts(self) -> list[Receipt]:
        """The results received, as (key, time), after noting every other message as an error."""
        receipts: list[Receipt] = []
        for raw, at in self.arrivals:
            message = json.loads(raw)
            kind = message.get("type")
            payload = message.get("payload") or {}
            if kind in ("next", "data") and not payload.get("errors"):
                receipts.append((key_of(self.spec.kind, payload["data"]), at))
            elif kind in ("next", "data"):
                self.errors.append(json.dumps(payload["errors"])[:200])
            elif kind != "ka":
                self.errors.append(raw.decode()[:200])
        return receipts


async def open_subscriber(url: str, spec: Spec, token: str | None) -> Subscriber:
    connection = await connect(
        url.replace("http://", "ws://") + "/graphql",
        subprotocols=[spec.protocol],  # type: ignore[list-item]
        open_timeout=120,
        ping_interval=None,
        max_queue=None,
    )
    init = {"authorization": f"Bearer {token}"} if token else {}
    await connection.send(json.dumps({"type": "connection_init", "payload": init}))
    while True:
        ack = json.loads(await asyncio.wait_for(connection.recv(), 120))
        if ack.get("type") != "ka":  # graphql-ws may send a keep-alive right after the ack
            break
    if ack.get("type") != "connection_ack":
        raise RuntimeError(f"not acknowledged: {ack}")
    start = "subscribe" if spec.protocol == TRANSPORT else "start"
    payload = {"query": spec.query, "variables": spec.variables}
    await connection.send(json.dumps({"id": "1", "type": start, "payload": payload}))
    return Subscriber(spec, connection)


def run(assigned: list[tuple[str, Spec, str | None]], pipe: Connection) -> None:
    """Open ``assigned`` (server URL, spec, token) and answer the parent's commands until ``finish``."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, len(assigned) + 1000)), hard))
    asyncio.run(_serve(assigned, pipe))


async def _serve(assigned: list[tuple[str, Spec, str | None]], pipe: Connection) -> None:
    gate = asyncio.Semaphore(OPENING_CONCURRENCY)

    async def one(url: str, spec: Spec, token: str | None) -> Subscriber:
        async with gate:
            return await open_subscriber(url, spec, token)

    subscribers = await asyncio.gather(*(one(*a) for a in assigned))
    listeners = [asyncio.create_task(s.listen()) for s in subscribers]
    # The open connections live until the end: out of this process's cycle collections, whose pauses
    # would otherwise be measured as the server's latency (the server does the same: api/cycle_collector.py).
    gc.collect()
    gc.freeze()
    pipe.send(len(subscribers))
    loop = asyncio.get_running_loop()
    while True:
        command = await loop.run_in_executor(None, pipe.recv)
        if command == "heard":
            pipe.send(sum(1 for s in subscribers if s.arrivals or s.errors))
        elif command == "count":
            pipe.send(sum(len(s.arrivals) for s in subscribers))
        elif command == "finish":
            for task in listeners:
                task.cancel()
            await asyncio.gather(*(s.connection.close() for s in subscribers), return_exceptions=True)
            pipe.send([Report(s.spec.index, s.receipts(), s.errors) for s in subscribers])
            return
        else:
            raise ValueError(f"unknown command {command!r}")


class Clients:
    """The parent's side: the client processes, each with its pipe, asked all at once."""

    def __init__(self, processes: list[BaseProcess], pipes: list[Connection]) -> None:
        self.processes = processes
        self.pipes = pipes

    @classmethod
    def start(cls, shares: list[list[tuple[str, Spec, str | None]]]) -> Clients:
        # Spawned, not forked: a child starts clean, without the parent's event loop and connections.
        context = multiprocessing.get_context("spawn")
        processes: list[BaseProcess] = []
        pipes: list[Connection] = []
        for share in shares:
            ours, theirs = context.Pipe()
            process = context.Process(target=run, args=(share, theirs), daemon=True)
            process.start()
            theirs.close()
            processes.append(process)
            pipes.append(ours)
        return cls(processes, pipes)

    async def answers(self) -> list[Any]:
        return [await asyncio.to_thread(pipe.recv) for pipe in self.pipes]

    async def ask(self, command: str) -> list[Any]:
        for pipe in self.pipes:
            pipe.send(command)
        return await self.answers()

    async def total(self, command: str) -> int:
        return sum(await self.ask(command))

    async def finish(self) -> list[Report]:
        reports = [report for share in await self.ask("finish") for report in share]
        for process in self.processes:
            process.join(timeout=30)
        return reports

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self.processes if process.pid is not None]

    def kill(self) -> None:
        for process in self.processes:
            if process.is_alive():
                process.kill()
