"""``incidentdesk serve`` and ``incidentdesk migrate``."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Any

from api.cli.common import EXIT_USAGE, UsageError, app_url, log, migrate_database, prepared_owner_url
from api.logs import logging_config
from domain.db import (
    owner_database_url,
)
from domain.settings import Settings


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    problems = settings.production_problems()
    if problems:
        for problem in problems:
            print(f"incidentdesk: refusing to serve production: {problem}", file=sys.stderr)
        return EXIT_USAGE

    workers = args.workers if args.workers is not None else settings.workers
    if workers < 1:
        raise UsageError("--workers must be at least 1")
    if args.no_migrate:
        url = settings.app_database_url or app_url(settings, owner_database_url(settings))
    else:
        url = app_url(settings, prepared_owner_url(settings))
    if not settings.database_url and not (args.no_migrate and settings.app_database_url):
        log.info("the embedded PostgreSQL keeps its data in %s", settings.data_dir.resolve())
    # Workers build the app from the environment: handed the application role's URL resolved here, they
    # connect straight away instead of each looking for the embedded server again.
    os.environ["INCIDENTDESK_APP_DATABASE_URL"] = url
    from api.http_protocol import UVICORN_HTTP
    from api.ws_protocol import UVICORN_WS

    host, port = listen_address(args, settings)
    options: dict[str, Any] = {
        "factory": True,
        "host": host,
        "port": port,
        "log_level": settings.log_level.lower(),
        # Every process (each worker configures its own) renders every record alike (``api/logs.py``).
        "log_config": logging_config(settings.log_level, settings.log_format),
        "lifespan": "on",
        # The request log (``api/request_log.py``) writes one line per request: uvicorn's would repeat it.
        "access_log": False,
        # No "server: uvicorn" on every response: it tells a prober what runs here, and costs a header.
        "server_header": False,
        "http": UVICORN_HTTP,
        "ws": UVICORN_WS,
        # Live messages are small and go to thousands of sockets: compressing each one for each socket
        # costs more CPU than it saves bandwidth (``INCIDENTDESK_WS_COMPRESSION`` turns it on).
        "ws_per_message_deflate": settings.ws_compression,
        # SIGTERM: stop accepting, let requests in flight finish within this grace, then stop.
        "timeout_graceful_shutdown": max(1, round(settings.shutdown_grace_seconds)),
    }
    if workers > 1:
        uvicorn.run("api.app:create_app", workers=workers, **options)
    else:
        _run_gracefully(uvicorn.Config("api.app:create_app", **options))
    return 0


def listen_address(args: argparse.Namespace, settings: Settings) -> tuple[str, int]:
    """Where ``serve`` listens: its options first, then the settings. The deployment manifests are checked
    against this, so that their ports are the ones the server binds."""
    host: str = args.host or settings.host
    port: int = args.port if args.port is not None else settings.port
    return host, port


def _run_gracefully(config: Any) -> None:
    """uvicorn, told to stop (SIGTERM): it stops accepting, closes WebSockets with 1001 (going away; uvicorn's
    own close would say 1012), then lets the requests in flight finish, as uvicorn does."""
    import uvicorn

    class Graceful(uvicorn.Server):
        async def shutdown(self, sockets: Any = None) -> None:
            from api.app import going_away

            for server in self.servers:
                server.close()
            await going_away()
            await super().shutdown(sockets)

    # uvicorn re-raises the SIGTERM it handled once it has stopped; stopping when asked to is success, so
    # the process exits 0 rather than dying of the signal (the handler is not inherited by children).
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    Graceful(config).run()


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    owner_url = owner_database_url(settings)
    for revision in migrate_database(owner_url):
        print(revision)
    return 0
