"""The database and the server processes under test, and how much memory a server holds.

Each server is ``incidentdesk serve --workers 1`` (one uvicorn process, which is the process started
here, so its ``/proc`` entry is the server's own) on a port of its own; several of them share one
database, as replicas behind a load balancer share one PostgreSQL.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url

from domain.db import to_sync_url
from domain.migrate import upgrade
from live.seed import ISSUER

ROOT = Path(__file__).resolve().parents[2]

# Every subscriber of a role is one caller (one token), and the committing agent commits far more often
# than a person would: the per-caller caps and rate limits are raised past anything the run reaches. The
# background loops that would write or poll during the run are slowed, as the other benchmarks do.
SERVER_ENV = {
    "INCIDENTDESK_PUBLIC_URL": ISSUER,
    "INCIDENTDESK_LOG_LEVEL": "WARNING",
    "INCIDENTDESK_MAX_SUBSCRIPTIONS_PER_CONNECTION": "1",
    "INCIDENTDESK_MAX_SUBSCRIPTIONS_PER_PRINCIPAL": "1000000",
    "INCIDENTDESK_RATE_LIMIT_PER_MINUTE": "100000000",
    "INCIDENTDESK_AUTO_CLOSE_INTERVAL_SECONDS": "0",
    "INCIDENTDESK_SLA_SCANNER_MAX_SLEEP_SECONDS": "0",
    "INCIDENTDESK_WEBHOOK_POLL_SECONDS": "3600",
    "INCIDENTDESK_BULLETIN_PHASE_TICK_SECONDS": "3600",
}


@contextlib.contextmanager
def cluster() -> Iterator[str]:
    """An owner URL: ``INCIDENTDESK_BENCH_DATABASE_URL``, or an embedded PostgreSQL for the run."""
    configured = os.environ.get("INCIDENTDESK_BENCH_DATABASE_URL")
    if configured:
        yield configured
        return
    import pgserver

    with tempfile.TemporaryDirectory(prefix="bench-pg-") as data:
        server = pgserver.get_server(data, cleanup_mode="stop")
        try:
            yield server.get_uri("postgres")
        finally:
            server.cleanup()


def fresh_database(admin_url: str) -> str:
    name = f"bench_{uuid.uuid4().hex[:8]}"
    engine = create_engine(to_sync_url(admin_url), poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    owner_url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    upgrade(owner_url)
    return owner_url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Server:
    url: str
    pid: int


def rss_kib(pid: int) -> int:
    """The process's resident memory (VmRSS), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    """User and system CPU the process has used so far (``/proc/<pid>/stat``, its own threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command's closing parenthesis: state is field 3, utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def servers(owner_url: str, app_url: str, count: int) -> Iterator[list[Server]]:
    """``count`` server processes on the same database, each answering /healthz."""
    env = {
        **os.environ,
        **SERVER_ENV,
        "INCIDENTDESK_DATABASE_URL": owner_url,
        "INCIDENTDESK_APP_DATABASE_URL": app_url,
    }
    processes: list[subprocess.Popen[bytes]] = []
    started: list[Server] = []
    try:
        for _ in range(count):
            port = free_port()
            # Served as in production: ``incidentdesk serve``, one process.
            command = [sys.executable, "-m", "api.cli", "serve", "--workers", "1", "--no-migrate"]
            command += ["--host", "127.0.0.1", "--port", str(port)]
            process = subprocess.Popen(command, cwd=ROOT, env=env)
            processes.append(process)
            started.append(Server(f"http://127.0.0.1:{port}", process.pid))
        for server, process in zip(started, processes, strict=True):
            _wait_healthy(server.url, process)
        yield started
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise RuntimeError("a server exited")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("a server did not start")
        time.sleep(0.1)
