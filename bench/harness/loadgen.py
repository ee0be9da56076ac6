"""A closed-loop HTTP/1.1 load generator for when ``wrk`` is absent: N keep-alive connections, each sending
its next request as soon as the previous answer arrived, for a fixed time; the requests still in flight
at the end are waited for (and counted apart), so the server is idle when it exits.

Run as its own process (``python loadgen.py SPEC.json``), so its CPU is neither the harness's nor the
server's; it prints one JSON line with the counts and latency percentiles. It speaks HTTP on raw asyncio
streams rather than through an HTTP client library, whose per-request cost would be several times the
cost of a fast server's answer on the same two cores.

The spec: host, port, method, path, headers, bodies (cycled), expect (the success status), connections,
seconds, and optionally dedup ({"placeholder", "hot", "tag"}): every other request then carries one of
``hot`` repeating keys, the rest a key never sent before.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sys
import time
from typing import Any

_USER_ERRORS = re.compile(rb'"userErrors":\s*\[\s*\{')


class Tally:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors = 0
        self.bad_status = 0
        self.socket_errors = 0
        self.drained = 0
        self.samples: list[str] = []

    def failed(self, what: str) -> None:
        self.errors += 1
        if len(self.samples) < 5:
            self.samples.append(what[:500])


def is_error(body: bytes) -> bool:
    """A GraphQL answer with ``errors``, or a mutation payload with user errors, counts as an error."""
    return b'"errors":' in body or _USER_ERRORS.search(body) is not None


def request_bytes(spec: dict[str, Any], body: str) -> bytes:
    encoded = body.encode()
    lines = [f"{spec['method']} {spec['path']} HTTP/1.1", f"Host: {spec['host']}:{spec['port']}"]
    lines += [f"{name}: {value}" for name, value in spec["headers"].items()]
    lines.append(f"Content-Length: {len(encoded)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + encoded


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, keep-alive) of one response: Content-Length or chunked bodies."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head[:-4].split(b"\r\n")
    status = int(status_line.split(b" ", 2)[1])
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(parts)
    else:
        body = await reader.readexactly(int(headers.get(b"content-length", b"0")))
    return status, body, headers.get(b"connection", b"").lower() != b"close"


async def connection(spec: dict[str, Any], number: int, deadline: float, tally: Tally) -> None:
    bodies: list[str] = spec["bodies"]
    dedup = spec.get("dedup")
    prepared = [request_bytes(spec, body) for body in bodies]
    sent = 0
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    while time.monotonic() < deadline:
        index = (number + sent) % len(bodies)
        if dedup:
            if sent % 2 == 0:
                key = f"hot-{(number + sent // 2) % dedup['hot']}"
            else:
                key = f"{dedup['tag']}-{number}-{sent}"
            payload = request_bytes(spec, bodies[index].replace(dedup["placeholder"], key))
        else:
            payload = prepared[index]
        sent += 1
        try:
            if writer is None or reader is None:
                reader, writer = await asyncio.open_connection(spec["host"], spec["port"])
            began = time.perf_counter()
            writer.write(payload)
            status, body, keep_alive = await read_response(reader)
            elapsed = time.perf_counter() - began
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as error:
            tally.socket_errors += 1
            tally.failed(f"socket: {error!r}")
            if writer is not None:
                writer.close()
            reader = writer = None
            continue
        if time.monotonic() > deadline:
            # Sent before the end and answered after it: the server did the work, the window does not
            # count it (CPU per request counts it, see harness.load.Result.processed).
            tally.drained += 1
        else:
            tally.latencies.append(elapsed)
            if status != spec["expect"]:
                tally.bad_status += 1
                tally.failed(f"HTTP {status}: {body[:300]!r}")
            elif spec["method"] == "POST" and is_error(body):
                tally.failed(body.decode(errors="replace"))
        if not keep_alive and writer is not None:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    tally = Tally()
    began = time.monotonic()
    deadline = began + float(spec["seconds"])
    await asyncio.gather(*(connection(spec, i, deadline, tally) for i in range(int(spec["connections"]))))
    duration = min(time.monotonic(), deadline) - began
    ordered = sorted(tally.latencies)
    return {
        "requests": len(ordered),
        "duration": duration,
        "p50_ms": percentile(ordered, 0.50) * 1000,
        "p90_ms": percentile(ordered, 0.90) * 1000,
        "p99_ms": percentile(ordered, 0.99) * 1000,
        "max_ms": (ordered[-1] if ordered else float("nan")) * 1000,
        "errors": tally.errors,
        "bad_status": tally.bad_status,
        "socket_errors": tally.socket_errors,
        "unfinished": tally.drained,
        "samples": tally.samples,
    }


def main() -> None:
    with open(sys.argv[1]) as handle:
        spec = json.load(handle)
    try:
        import uvloop

        result = uvloop.run(run(spec))
    except ImportError:
        result = asyncio.run(run(spec))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
