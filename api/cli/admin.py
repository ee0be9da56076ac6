"""The administrative commands: the demo, tenants, operators, members, OAuth clients, signing keys, tokens."""

from __future__ import annotations

import argparse
import re

from api.cli.common import Runtime, UsageError, print_json, runtime, tenant_for_slug
from domain.db import (
    Scope,
)
from domain.settings import Settings
from domain.tenancy.reads import is_member
from domain.tenancy.roles import Role


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
    print_json(
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
    print_json({"issuer": operator.issuer, "subject": operator.subject})


async def cmd_member_add(args: argparse.Namespace, settings: Settings, owner_url: str) -> None:
    from domain.tenancy.service import add_member

    async with runtime(settings, owner_url) as rt:
        tenant = await tenant_for_slug(rt.database, args.tenant)
        grant = await add_member(
            rt.database,
            None,
            tenant_id=tenant.id,
            issuer=args.issuer or settings.public_url,
            subject=args.subject,
            role=Role(args.role),
        )
    print_json(
        {
            "tenant": tenant.slug,
            "issuer": grant.membership.issuer,
            "subject": grant.membership.subject,
            "role": Role(grant.membership.role).value,
        }
    )


async def cmd_client_create(args: argparse.Namespace, settings: Settings, owner_url: str) -> None:
    name = args.name.strip()
    if not name or len(name) > 200:
        raise UsageError("--name must be 1 to 200 characters")
    scopes = scopes_of(args.scopes) or []
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
    print_json({"client_id": client_id, "client_secret": client_secret})


async def cmd_client_revoke(args: argparse.Namespace, settings: Settings, owner_url: str) -> None:
    async with runtime(settings, owner_url) as rt:
        tenant_id = await rt.authority.revoke_client(args.client_id.strip())
    if tenant_id is None:
        raise UsageError(f"no client {args.client_id!r}")
    print_json({"client_id": args.client_id.strip(), "revoked": True})


async def cmd_keys_rotate(args: argparse.Namespace, settings: Settings, owner_url: str) -> None:
    async with runtime(settings, owner_url) as rt:
        kid, retiring = await rt.authority.keys.rotate()
    print_json(
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
        print_json(
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
            token = await rt.authority.mint(subject, scopes=scopes_of(args.scopes), ttl_seconds=args.ttl)
        except ValueError as error:
            raise UsageError(str(error)) from None
    print(token)


async def _check_member(rt: Runtime, slug: str, subject: str) -> None:
    """``--tenant`` only checks: a token never names tenants, memberships decide (by issuer and subject)."""
    tenant = await tenant_for_slug(rt.database, slug)
    async with rt.database.transaction(Scope.of([tenant.id])) as session:
        member = await is_member(session, tenant_id=tenant.id, issuer=rt.authority.issuer, subject=subject)
    if not member:
        raise UsageError(f"{subject!r} is not a member of {tenant.slug!r} (see `incidentdesk member add`)")


def scopes_of(value: str | None) -> list[str] | None:
    """``--scopes``: names separated by commas or spaces."""
    if value is None:
        return None
    return [s for s in re.split(r"[\s,]+", value) if s]
