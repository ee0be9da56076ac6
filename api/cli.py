"""The ``incidentdesk`` command line: serve, migrate, seed the demo, administer tenants, clients and tokens.

Every command prints only its result on stdout; logs and progress go to stderr. Every command starts from
a migrated database: the embedded PostgreSQL in the data dir unless ``INCIDENTDESK_DATABASE_URL`` is set.
Administrative writes go through the application role and the domain's use cases with no actor: whoever
can run this command line is trusted as a platform operator.

Bad input (an invalid slug, an unknown tenant, a role that does not exist) prints one line on stderr and
exits with 2; any other failure prints one line and exits with 1. Neither prints a traceback, unless
``INCIDENTDESK_LOG_LEVEL=debug`` asks for it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import signal
import sys
import warnings
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, NoReturn

from pydantic import ValidationError
from sqlalchemy import create_engine, pool, select, text

from domain.db import (
    Database,
    Scope,
    app_url_from_owner_url,
    create_database,
    owner_database_url,
    to_sync_url,
)
from domain.errors import Refused
from domain.settings import Settings, get_settings
from domain.tenancy.models import Membership, Tenant
from domain.tenancy.roles import Role

log = logging.getLogger("incidentdesk.cli")

EXIT_FAILURE = 1
EXIT_USAGE = 2
# Serialises migrations across processes (replicas starting together); any constant nobody else uses.
_MIGRATION_LOCK_ID = 0x1D_4D49_4752_4154


class UsageError(Exception):
    """Input the command cannot act on: reported in one line, exit status 2."""


def _refusal_message(refused: Refused) -> str:
    parts = []
    for problem in refused.problems:
        field = [f for f in problem.field or () if f != "input"]
        parts.append(f"{'.'.join(field)}: {problem.message}" if field else problem.message)
    return "; ".join(parts)


# ---------------------------------------------------------------- the database every command starts from


def migrate_database(owner_url: str) -> list[str]:
    """Upgrade to every head under a cluster-wide lock; returns the revisions now current."""
    from domain.migrate import current_revisions, head_revisions, upgrade

    if current_revisions(owner_url) == head_revisions():
        return sorted(current_revisions(owner_url))
    engine = create_engine(to_sync_url(owner_url), poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as lock:
            lock.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
            try:
                log.info("migrating the database to %s", ", ".join(sorted(head_revisions())))
                upgrade(owner_url)
            finally:
                lock.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _MIGRATION_LOCK_ID})
    finally:
        engine.dispose()
    return sorted(current_revisions(owner_url))


def prepared_owner_url(settings: Settings) -> str:
    """The owner URL (starting the embedded server when none is configured), migrated to every head."""
    if not settings.database_url:
        log.debug("starting (or reusing) the embedded PostgreSQL in %s", settings.data_dir.resolve())
    owner_url = owner_database_url(settings)
    migrate_database(owner_url)
    return owner_url


def app_url(settings: Settings, owner_url: str) -> str:
    return settings.app_database_url or app_url_from_owner_url(owner_url)


@dataclass
class Runtime:
    settings: Settings
    database: Database
    # auth.Authority; typed loosely so that `--help` does not pay for importing the auth stack.
    authority: Any


@asynccontextmanager
async def runtime(settings: Settings, owner_url: str) -> AsyncIterator[Runtime]:
    from auth import Authority

    database = create_database(app_url(settings, owner_url), pool_size=2)
    authority = Authority(settings, database)
    try:
        yield Runtime(settings, database, authority)
    finally:
        await authority.aclose()
        await database.dispose()


async def tenant_for_slug(database: Database, slug: str) -> Tenant:
    async with database.transaction(Scope()) as session:
        tenant = await session.scalar(select(Tenant).where(Tenant.slug == slug.strip().lower()))
    if tenant is None:
        raise UsageError(f"no tenant with slug {slug!r}")
    return tenant


def _print_json(value: dict[str, Any]) -> None:
    print(json.dumps(value, indent=None, separators=(", ", ": ")))


def _scopes(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [s for s in re.split(r"[\s,]+", value) if s]


# ---------------------------------------------------------------- commands


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

    options: dict[str, Any] = {
        "factory": True,
        "host": args.host or settings.host,
        "port": args.port if args.port is not None else settings.port,
        "log_level": settings.log_level.lower(),
        "log_config": _uvicorn_logging(),
        "lifespan": "on",
        # Below info the access log writes nothing; uvicorn still gathers each line's parts unless told.
        "access_log": settings.log_level.lower() in ("debug", "info"),
        # No "server: uvicorn" on every response: it tells a prober what runs here, and costs a header.
        "server_header": False,
        "http": UVICORN_HTTP,
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


def _uvicorn_logging() -> dict[str, Any]:
    """uvicorn's own logging, with the access log on stderr too: stdout carries results only."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["handlers"]["access"]["stream"] = "ext://sys.stderr"
    return config


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    owner_url = owner_database_url(settings)
    for revision in migrate_database(owner_url):
        print(revision)
    return 0


async def cmd_demo(args: argparse.Namespace, settings: Settings, owner_url: str) -> None:
    from api import demo

    async with runtime(settings, owner_url) as rt:
        seeded = await demo.seed(rt.database, rt.authority, ttl_seconds=args.ttl)
    print(demo.render(seeded, settings.public_url), end="")


async def cmd_tenant_create(args: argparse.Namespace, settings: Settings, owner_url: str) -> None:
    from api.relay import encode_id
    from domain.tenancy.service import create_tenant

    async with runtime(settings, owner_url) as rt:
        tenant = await create_tenant(
            rt.database,
            None,
            slug=args.slug,
            name=args.name,
            timezone=args.timezone,
            public_status_page=args.public_status_page,
            auto_close_days=args.auto_close_days,
        )
    _print_json(
        {
            "id": encode_id("Tenant", tenant.id),
            "slug": tenant.slug,
            "name": tenant.name,
            "timezone": tenant.timezone,
            "publicStatusPage": tenant.public_status_page,
            "autoCloseDays": tenant.auto_close_days,
        }
    )


async def cmd_operator_add(args: argparse.Namespace, settings: Settings, owner_url: str) -> None:
    from domain.tenancy.service import add_operator

    async with runtime(settings, owner_url) as rt:
        operator = await add_operator(rt.database, args.issuer or settings.public_url, args.subject)
    _print_json({"issuer": operator.issuer, "subject": operator.subject})


async def cmd_member_add(args: argparse.Namespace, settings: Settings, owner_url: str) -> None:
    from domain.tenancy.service import add_member

    async with runtime(settings, owner_url) as rt:
        tenant = await tenant_for_slug(rt.database, args.tenant)
        membership = await add_member(
            rt.database,
            None,
            tenant_id=tenant.id,
            issuer=args.issuer or settings.public_url,
            subject=args.subject,
            role=Role(args.role),
        )
    _print_json(
        {
            "tenant": tenant.slug,
            "issuer": membership.issuer,
            "subject": membership.subject,
            "role": Role(membership.role).value,
        }
    )


async def cmd_client_create(args: argparse.Namespace, settings: Settings, owner_url: str) -> None:
    name = args.name.strip()
    if not name or len(name) > 200:
        raise UsageError("--name must be 1 to 200 characters")
    scopes = _scopes(args.scopes) or []
    if not scopes:
        raise UsageError("--scopes must name at least one scope")
    async with runtime(settings, owner_url) as rt:
        tenant = await tenant_for_slug(rt.database, args.tenant)
        try:
            client_id, client_secret = await rt.authority.create_client(
                tenant.id, name, scopes, Role(args.role)
            )
        except ValueError as error:
            raise UsageError(str(error)) from None
    _print_json({"client_id": client_id, "client_secret": client_secret})


async def cmd_client_revoke(args: argparse.Namespace, settings: Settings, owner_url: str) -> None:
    async with runtime(settings, owner_url) as rt:
        tenant_id = await rt.authority.revoke_client(args.client_id.strip())
    if tenant_id is None:
        raise UsageError(f"no client {args.client_id!r}")
    _print_json({"client_id": args.client_id.strip(), "revoked": True})


async def cmd_keys_rotate(args: argparse.Namespace, settings: Settings, owner_url: str) -> None:
    async with runtime(settings, owner_url) as rt:
        kid, retiring = await rt.authority.keys.rotate()
    _print_json(
        {
            "kid": kid,
            "retiring": [
                {"kid": k.kid, "retireAfter": k.retire_after.isoformat() if k.retire_after else None}
                for k in retiring
            ],
        }
    )


async def cmd_keys_list(args: argparse.Namespace, settings: Settings, owner_url: str) -> None:
    async with runtime(settings, owner_url) as rt:
        keys = await rt.authority.keys.describe()
    for key in keys:
        _print_json(
            {
                "kid": key.kid,
                "state": key.state,
                "createdAt": key.created_at.isoformat(),
                "retireAfter": key.retire_after.isoformat() if key.retire_after else None,
            }
        )


async def cmd_token(args: argparse.Namespace, settings: Settings, owner_url: str) -> None:
    subject = args.subject.strip()
    if not subject:
        raise UsageError("--subject must not be blank")
    if args.ttl is not None and args.ttl <= 0:
        raise UsageError("--ttl must be a positive number of seconds")
    async with runtime(settings, owner_url) as rt:
        if args.tenant is not None:
            await _check_member(rt, args.tenant, subject)
        try:
            token = await rt.authority.mint(subject, scopes=_scopes(args.scopes), ttl_seconds=args.ttl)
        except ValueError as error:
            raise UsageError(str(error)) from None
    print(token)


async def _check_member(rt: Runtime, slug: str, subject: str) -> None:
    """``--tenant`` only checks: a token never names tenants, memberships decide (by issuer and subject)."""
    tenant = await tenant_for_slug(rt.database, slug)
    async with rt.database.transaction(Scope.of([tenant.id])) as session:
        found = await session.scalar(
            select(Membership.id).where(
                Membership.tenant_id == tenant.id,
                Membership.issuer == rt.authority.issuer,
                Membership.subject == subject,
            )
        )
    if found is None:
        raise UsageError(f"{subject!r} is not a member of {tenant.slug!r} (see `incidentdesk member add`)")


# ---------------------------------------------------------------- parsing


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def _role(value: str) -> str:
    upper = value.strip().upper()
    if upper not in Role.__members__:
        raise argparse.ArgumentTypeError(
            f"invalid role {value!r}; choose one of {', '.join(r.value for r in Role)}"
        )
    return upper


AsyncCommand = Callable[[argparse.Namespace, Settings, str], Coroutine[Any, Any, None]]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="incidentdesk",
        description="Multi-tenant incident management with a GraphQL API.",
        epilog="Settings come from INCIDENTDESK_* environment variables (see the README).",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = commands.add_parser("serve", help="migrate, then serve the API")
    serve.add_argument("--host", help="interface to bind (default: INCIDENTDESK_HOST, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to bind (default: INCIDENTDESK_PORT, 8000)")
    serve.add_argument("--workers", type=int, help="worker processes (default: INCIDENTDESK_WORKERS, 1)")
    serve.add_argument(
        "--no-migrate",
        action="store_true",
        help="skip migrations (run `incidentdesk migrate` as a release step); /readyz answers 503"
        " until the schema is at every head",
    )
    serve.set_defaults(sync_handler=cmd_serve)

    migrate = commands.add_parser("migrate", help="upgrade the database to every head; prints them")
    migrate.set_defaults(sync_handler=cmd_migrate)

    demo = commands.add_parser("demo", help="seed the demo (idempotent) and print tokens to try it")
    demo.add_argument(
        "--ttl", type=int, default=12 * 3600, help="lifetime of the printed tokens in seconds (12 h)"
    )
    demo.set_defaults(handler=cmd_demo)

    tenant = commands.add_parser("tenant", help="manage tenants")
    tenant_commands = tenant.add_subparsers(dest="action", metavar="ACTION", required=True)
    tenant_create = tenant_commands.add_parser("create", help="create a tenant; prints it as JSON")
    tenant_create.add_argument("slug", help="short lowercase key, e.g. acme")
    tenant_create.add_argument("name", help="display name")
    tenant_create.add_argument("--timezone", default="UTC", help="IANA timezone (default UTC)")
    tenant_create.add_argument(
        "--public-status-page", action="store_true", help="publish an anonymous status page"
    )
    tenant_create.add_argument(
        "--auto-close-days",
        type=int,
        default=3,
        help="days a resolved incident waits for confirmation before closing by itself (default 3)",
    )
    tenant_create.set_defaults(handler=cmd_tenant_create)

    operator = commands.add_parser("operator", help="manage platform operators")
    operator_commands = operator.add_subparsers(dest="action", metavar="ACTION", required=True)
    operator_add = operator_commands.add_parser("add", help="make a principal a platform operator")
    operator_add.add_argument("--subject", required=True, help="the token's sub")
    operator_add.add_argument("--issuer", help="the token's iss (default: INCIDENTDESK_PUBLIC_URL)")
    operator_add.set_defaults(handler=cmd_operator_add)

    member = commands.add_parser("member", help="manage memberships")
    member_commands = member.add_subparsers(dest="action", metavar="ACTION", required=True)
    member_add = member_commands.add_parser("add", help="grant a role in a tenant (again: change it)")
    member_add.add_argument("--tenant", required=True, help="tenant slug")
    member_add.add_argument("--subject", required=True, help="the token's sub")
    member_add.add_argument("--role", required=True, type=_role, help="CUSTOMER, AGENT or MANAGER")
    member_add.add_argument("--issuer", help="the token's iss (default: INCIDENTDESK_PUBLIC_URL)")
    member_add.set_defaults(handler=cmd_member_add)

    client = commands.add_parser("client", help="manage OAuth clients")
    client_commands = client.add_subparsers(dest="action", metavar="ACTION", required=True)
    client_create = client_commands.add_parser(
        "create", help="register a client-credentials client; prints its id and secret (shown once)"
    )
    client_create.add_argument("--tenant", required=True, help="tenant slug")
    client_create.add_argument("--name", required=True, help="display name")
    client_create.add_argument(
        "--scopes", required=True, help='space-separated, e.g. "incidents:read incidents:write"'
    )
    client_create.add_argument("--role", default="AGENT", type=_role, help="CUSTOMER, AGENT or MANAGER")
    client_create.set_defaults(handler=cmd_client_create)

    client_revoke = client_commands.add_parser(
        "revoke", help="revoke a client: no new tokens, and the tokens it holds lose every right at once"
    )
    client_revoke.add_argument("client_id", help="the client's id (idc_...)")
    client_revoke.set_defaults(handler=cmd_client_revoke)

    keys = commands.add_parser("keys", help="the built-in issuer's signing keys")
    keys_commands = keys.add_subparsers(dest="action", metavar="ACTION", required=True)
    keys_rotate = keys_commands.add_parser(
        "rotate",
        help="add a signing key; the old ones keep verifying until their tokens expire, then retire",
    )
    keys_rotate.set_defaults(handler=cmd_keys_rotate)
    keys_list = keys_commands.add_parser("list", help="every signing key and its state, one JSON a line")
    keys_list.set_defaults(handler=cmd_keys_list)

    token = commands.add_parser("token", help="mint a token of the built-in issuer; prints it")
    token.add_argument("--subject", required=True, help="the token's sub")
    token.add_argument(
        "--ttl", type=int, help="lifetime in seconds (default: INCIDENTDESK_TOKEN_TTL_SECONDS)"
    )
    token.add_argument("--scopes", help="space-separated scopes (default: all)")
    token.add_argument("--tenant", help="check that the subject is a member of this tenant first")
    token.set_defaults(handler=cmd_token)
    return parser


def _configure_logging(level: str) -> None:
    """Our own progress at the configured level; libraries (pgserver, alembic) only when they warn."""
    chosen = getattr(logging, level.upper(), logging.INFO)
    logging.basicConfig(
        stream=sys.stderr,
        level=chosen if chosen <= logging.DEBUG else logging.WARNING,
        format="%(levelname)s [%(name)s] %(message)s",
    )
    logging.getLogger("incidentdesk").setLevel(chosen)
    # pgserver asks platformdirs for a runtime dir it never uses; the fallback warning is noise here.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")


def _fail(status: int, message: str) -> int:
    prefixed = message if message.startswith("incidentdesk") else f"incidentdesk: {message}"
    print(prefixed, file=sys.stderr)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except UsageError as error:
        return _fail(EXIT_USAGE, str(error))
    try:
        settings = get_settings()
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return _fail(EXIT_USAGE, f"invalid setting INCIDENTDESK_{where.upper()}: {first['msg']}")
    _configure_logging(settings.log_level)
    debug = settings.log_level.lower() == "debug"
    try:
        if hasattr(args, "sync_handler"):
            status: int = args.sync_handler(args, settings)
            return status
        handler: AsyncCommand = args.handler
        owner_url = prepared_owner_url(settings)
        asyncio.run(handler(args, settings, owner_url))
        return 0
    except UsageError as error:
        return _fail(EXIT_USAGE, str(error))
    except Refused as refused:
        return _fail(EXIT_USAGE, _refusal_message(refused))
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        if debug:
            log.exception("failed")
        detail = str(error).strip().splitlines()
        return _fail(EXIT_FAILURE, f"{type(error).__name__}: {detail[0] if detail else 'failed'}")


if __name__ == "__main__":
    sys.exit(main())
