"""The manifests' command lines, run for real: ``incidentdesk`` processes and a Redis server.

A container's command runs here as ``python -m api.cli`` with the manifest's arguments and environment.
What only a cluster could provide is given by the test: the database's and Redis's addresses, a free
port on loopback (tests run side by side), a data dir of the test's own.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.deploy import sources as s
from tests.server import free_port
from tests.waiting import PATIENCE, eventually

# Debian's redis-server (`make redis` installs it).
REDIS_SERVER = (
    os.environ.get("INCIDENTDESK_REDIS_SERVER") or shutil.which("redis-server") or "/usr/bin/redis-server"
)


def process_environment(env: Mapping[str, str], **overrides: str) -> dict[str, str]:
    """This process's environment without its INCIDENTDESK_* settings, then ``env``, then ``overrides``."""
    base = {name: value for name, value in os.environ.items() if not name.startswith(s.PREFIX)}
    return {**base, **env, **overrides}


def run_command(invocation: s.Invocation, env: Mapping[str, str], log: Path) -> int:
    """Run a one-shot command line to its end; its exit status."""
    with log.open("ab") as out:
        return subprocess.run(
            [sys.executable, "-m", "api.cli", *invocation.argv[1:]],
            cwd=log.parent,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=PATIENCE,
            check=False,
        ).returncode


@contextmanager
def server(invocation: s.Invocation, env: Mapping[str, str], log: Path) -> Iterator[str]:
    """A ``serve`` command line running on a free loopback port, until SIGTERM stops it (exit 0); its
    base URL once it answers /healthz."""
    port = free_port()
    environment = {**env, "INCIDENTDESK_HOST": "127.0.0.1", "INCIDENTDESK_PORT": str(port)}
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "api.cli", *invocation.argv[1:]],
            cwd=log.parent,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"

    def alive() -> bool:
        assert process.poll() is None, log.read_text()
        try:
            return httpx.get(f"{url}/healthz").status_code == 200
        except httpx.TransportError:
            return False

    try:
        eventually(alive, f"{invocation.argv} answering /healthz")
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            status = process.wait(timeout=PATIENCE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
    assert status == 0, log.read_text()


@contextmanager
def redis(arguments: list[str], log: Path) -> Iterator[int]:
    """Redis started with ``arguments`` (a manifest's), on a free loopback port; the port."""
    assert Path(REDIS_SERVER).exists(), f"{REDIS_SERVER} is missing: `make redis` installs it"
    program, *options = arguments
    assert program == "redis-server", arguments
    port = free_port()
    with log.open("ab") as out:
        process = subprocess.Popen(
            [REDIS_SERVER, *options, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(log.parent)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )

    def answers() -> bool:
        assert process.poll() is None, log.read_text()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=PATIENCE) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    try:
        eventually(answers, "redis-server answering PING")
        yield port
    finally:
        process.terminate()
        process.wait(timeout=PATIENCE)
