"""``incidentdesk tenant export|import|delete``: a tenant's data out of the database, back in, or gone.

These connect as the owner role (the configured database URL), as migrations do: moving a tenant whole
is the database owner's work, not the server's, and a deployment may give the server's role narrower
grants. Each transaction is still scoped to the tenant it acts on, so row-level security holds for an
owner that is not a superuser. Rows go to stdout (export) and results as JSON on stdout; progress goes
to stderr, and never a row's content.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

from api.cli.common import UsageError, print_json
from domain.db import Database, create_database
from domain.settings import Settings
from domain.tenant_data.dump_format import Progress

Parser = TypeVar("Parser", bound=argparse.ArgumentParser)


def add_commands(tenant_commands: argparse._SubParsersAction[Parser]) -> None:
    """The three subcommands, added to ``incidentdesk tenant``."""
    export = tenant_commands.add_parser(
        "export",
        help="write every row of a tenant as JSON lines on stdout (a header first); progress on stderr",
    )
    export.add_argument("slug", help="the tenant's slug")
    export.set_defaults(handler=cmd_tenant_export)

    restore = tenant_commands.add_parser(
        "import",
        help="restore an export: the same tenant into a database that lacks it, or a copy under --slug"
        " (new ids, same numbers); prints the counts as JSON",
    )
    restore.add_argument("file", type=Path, help="a file written by `incidentdesk tenant export`")
    restore.add_argument(
        "--slug", help="import under this new slug, with new ids (default: the exported slug)"
    )
    restore.set_defaults(handler=cmd_tenant_import)

    delete = tenant_commands.add_parser(
        "delete",
        help="delete everything of a tenant in one transaction; prints the counts as JSON",
    )
    delete.add_argument("slug", help="the tenant's slug")
    delete.add_argument("--confirm", required=True, metavar="SLUG", help="the same slug again")
    delete.set_defaults(handler=cmd_tenant_delete)


@asynccontextmanager
async def _owner_database(owner_url: str) -> AsyncIterator[Database]:
    database = create_database(owner_url, pool_size=1)
    try:
        yield database
    finally:
        await database.dispose()


def _progress(verb: str) -> Progress:
    def report(table: str, done: int, total: int) -> None:
        print(f"incidentdesk: {verb} {done}/{total} rows of {table}", file=sys.stderr, flush=True)

    return report


async def cmd_tenant_export(args: argparse.Namespace, settings: Settings, owner_url: str) -> None:
    from domain.tenant_data.export import export_tenant

    out = sys.stdout
    async with _owner_database(owner_url) as database:
        async for line in export_tenant(
            database, slug=args.slug.strip().lower(), progress=_progress("exported")
        ):
            out.write(line)
            out.write("\n")
    out.flush()


async def cmd_tenant_import(args: argparse.Namespace, settings: Settings, owner_url: str) -> None:
    from domain.tenant_data.restore import import_tenant

    path = _readable(args.file)
    async with _owner_database(owner_url) as database:
        restored = await import_tenant(database, path=path, slug=args.slug, progress=_progress("imported"))
    print_json(
        {
            "tenant": restored.slug,
            "id": str(restored.tenant_id),
            "newIds": restored.remapped,
            "imported": restored.counts,
            "linksDropped": restored.links_dropped,
            "parentsTrimmed": restored.parents_trimmed,
        }
    )


def _readable(path: Path) -> Path:
    if not path.is_file():
        raise UsageError(f"no file {str(path)!r}")
    return path


async def cmd_tenant_delete(args: argparse.Namespace, settings: Settings, owner_url: str) -> None:
    from domain.tenant_data.removal import delete_tenant

    slug = args.slug.strip().lower()
    if args.confirm.strip().lower() != slug:
        raise UsageError("--confirm must repeat the tenant's slug")
    async with _owner_database(owner_url) as database:
        deleted = await delete_tenant(database, slug=slug)
    print_json(
        {
            "tenant": deleted.slug,
            "id": str(deleted.tenant_id),
            "deleted": deleted.counts,
            "parentsUpdated": deleted.parents_updated,
        }
    )
