"""Batch loaders for bulletins and service statuses: one statement per request tick (``domain.bulletins.reads``),
inside the request's tenant scope (row-level security)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from api.context import Context
from domain.bulletins import models as m
from domain.bulletins import reads
from domain.bulletins.phases import ServiceStatus
from domain.catalog.models import Service

Key = reads.Key


async def load_service_statuses(ctx: Context, keys: Sequence[Key]) -> list[ServiceStatus]:
    async with ctx.read() as session:
        return await reads.service_statuses(session, keys)


async def load_bulletins(ctx: Context, ids: Sequence[uuid.UUID]) -> list[m.Bulletin | None]:
    async with ctx.read() as session:
        return await reads.bulletins(session, ids)


async def load_updates(ctx: Context, keys: Sequence[Key]) -> list[list[m.BulletinUpdate]]:
    async with ctx.read() as session:
        return await reads.updates(session, keys)


async def load_affected(ctx: Context, keys: Sequence[Key]) -> list[list[tuple[Service, ServiceStatus]]]:
    async with ctx.read() as session:
        return await reads.affected(session, keys)
