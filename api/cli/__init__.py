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
import sys
import warnings
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, NoReturn

from pydantic import ValidationError

from api.cli.admin import (
    cmd_client_create,
    cmd_client_revoke,
    cmd_demo,
    cmd_keys_list,
    cmd_keys_rotate,
    cmd_member_add,
    cmd_operator_add,
    cmd_tenant_create,
    cmd_token,
)
from api.cli.common import EXIT_FAILURE, EXIT_USAGE, UsageError, log, prepared_owner_url, refusal_message
from api.cli.mail import cmd_mail_list, cmd_mail_show
from api.cli.serve import cmd_migrate, cmd_serve
from api.cli.tenant_data import add_commands as add_tenant_data_commands
from api.logs import configure_logging
from domain.errors import Refused
from domain.settings import Settings, get_settings
from domain.tenancy.roles import Role


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
    add_tenant_data_commands(tenant_commands)

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

    mail = commands.add_parser("mail", help="the mails written to <data dir>/mail without an SMTP server")
    mail_commands = mail.add_subparsers(dest="action", metavar="ACTION", required=True)
    mail_list = mail_commands.add_parser("list", help="the newest mails, one JSON a line")
    mail_list.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    mail_list.set_defaults(sync_handler=cmd_mail_list)
    mail_show = mail_commands.add_parser("show", help="one mail as sent, by the key `mail list` prints")
    mail_show.add_argument("key")
    mail_show.set_defaults(sync_handler=cmd_mail_show)

    token = commands.add_parser("token", help="mint a token of the built-in issuer; prints it")
    token.add_argument("--subject", required=True, help="the token's sub")
    token.add_argument(
        "--ttl", type=int, help="lifetime in seconds (default: INCIDENTDESK_TOKEN_TTL_SECONDS)"
    )
    token.add_argument("--scopes", help="space-separated scopes (default: all)")
    token.add_argument("--tenant", help="check that the subject is a member of this tenant first")
    token.set_defaults(handler=cmd_token)
    return parser


def _configure_logging(settings: Settings) -> None:
    """Our own progress at the configured level; libraries (pgserver, alembic) only when they warn. One
    line per record on stderr, JSON or for a person (``api/logs.py``)."""
    configure_logging(settings.log_level, settings.log_format)
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
    _configure_logging(settings)
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
        return _fail(EXIT_USAGE, refusal_message(refused))
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        if debug:
            log.exception("failed")
        detail = str(error).strip().splitlines()
        return _fail(EXIT_FAILURE, f"{type(error).__name__}: {detail[0] if detail else 'failed'}")
