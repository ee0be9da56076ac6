"""Relay plumbing: opaque typed global IDs, page requests, and connections of keyset pages.

Cursors encode the sort key and the id (never an offset), so pages stay stable while rows are added. The
statements that read a page live in the domain (``domain/reads/pages.py``); this module turns a client's
``first``/``after``/``last``/``before`` into the page's window and the page into a connection.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Generic, Self, TypeVar

import strawberry
from graphql import GraphQLError
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.schema.name_converter import NameConverter

from domain.reads import cursors
from domain.reads.pages import Paged
from domain.reads.selection import Window

DEFAULT_PAGE = 20
MAX_PAGE = 100

T = TypeVar("T")
R = TypeVar("R")


@strawberry.interface(name="Node")
class Node:
    id: strawberry.ID


@strawberry.type(name="PageInfo")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


def encode_id(type_name: str, key: uuid.UUID) -> strawberry.ID:
    raw = f"{type_name}:{key}".encode()
    return strawberry.ID(base64.urlsafe_b64encode(raw).decode().rstrip("="))


def decode_id(value: str | None, *type_names: str) -> uuid.UUID | None:
    """The row id inside a global ID of one of ``type_names``; None for anything else (malformed, other type)."""
    parsed = parse_id(value)
    if parsed is None or parsed[0] not in type_names:
        return None
    return parsed[1]


def parse_id(value: str | None) -> tuple[str, uuid.UUID] | None:
    if not value or len(value) > 200:
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        type_name, _, key = raw.partition(":")
        return type_name, uuid.UUID(key)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def encode_cursor(values: Sequence[Any]) -> str:
    return cursors.encode_cursor(values)


def decode_cursor(cursor: str) -> list[Any]:
    try:
        return cursors.decode_cursor(cursor)
    except cursors.InvalidCursor:
        raise GraphQLError("invalid cursor", extensions={"code": "BAD_USER_INPUT"}) from None


@dataclass(frozen=True)
class PageRequest:
    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None

    def validated(self) -> PageRequest:
        if self.first is not None and self.last is not None:
            raise GraphQLError("pass first or last, not both", extensions={"code": "BAD_USER_INPUT"})
        for name, size in (("first", self.first), ("last", self.last)):
            if size is not None and not 0 <= size <= MAX_PAGE:
                raise GraphQLError(
                    f"{name} must be between 0 and {MAX_PAGE}", extensions={"code": "LIMIT_EXCEEDED"}
                )
        return self

    @property
    def backwards(self) -> bool:
        return self.last is not None or (self.before is not None and self.first is None)

    @property
    def size(self) -> int:
        size = self.last if self.backwards else self.first
        return DEFAULT_PAGE if size is None else size

    def window(self, kinds: Sequence[type]) -> Window:
        """The validated request as the read model's page window; ``kinds`` are the sort key's types,
        which the cursors' values must have."""
        request = self.validated()

        def key(cursor: str | None) -> tuple[Any, ...] | None:
            if cursor is None:
                return None
            try:
                return cursors.typed_values(cursors.decode_cursor(cursor), kinds)
            except cursors.InvalidCursor:
                raise GraphQLError("invalid cursor", extensions={"code": "BAD_USER_INPUT"}) from None

        return Window(
            size=request.size,
            backwards=request.backwards,
            after=key(request.after),
            before=key(request.before),
        )


@dataclass
class Page(Generic[T]):
    rows: list[T]
    cursors: list[str]
    has_next: bool
    has_previous: bool
    count: Callable[[], Awaitable[int]]

    def page_info(self) -> PageInfo:
        return PageInfo(
            has_next_page=self.has_next,
            has_previous_page=self.has_previous,
            start_cursor=self.cursors[0] if self.cursors else None,
            end_cursor=self.cursors[-1] if self.cursors else None,
        )


@strawberry.type
class Counted:
    """Base of every connection: ``totalCount`` runs its COUNT only when a client asks for it."""

    count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field
    async def total_count(self) -> int:
        return await self.count()


NodeT = TypeVar("NodeT")


@strawberry.type
class Edge(Generic[NodeT]):
    """One node of a connection and its cursor; named after its node (``IncidentEdge``)."""

    cursor: str
    node: NodeT


@strawberry.type
class Connection(Counted, Generic[NodeT]):
    """A Relay connection, named after its node (``IncidentConnection``; see ``ContractNames``)."""

    edges: list[Edge[NodeT]]
    page_info: PageInfo

    @classmethod
    def of_page(cls, page: Page[R], node: Callable[[R], NodeT]) -> Self:
        """The connection of a page of rows, each turned into its GraphQL node by ``node``."""
        edges = [Edge(cursor=c, node=node(row)) for row, c in zip(page.rows, page.cursors, strict=True)]
        return cls(edges=edges, page_info=page.page_info(), count=page.count)


class ContractNames(NameConverter):
    """Generic types are named as Strawberry names them (``Connection[Incident]`` is
    ``IncidentConnection``), except where the contract names them otherwise: the connection of an
    incident's events is its timeline (``TimelineConnection``, ``TimelineEdge``)."""

    NODE_NAMES = {"IncidentEvent": "Timeline"}

    def from_generic(self, generic_type: Any, types: list[Any]) -> str:
        name = super().from_generic(generic_type, types)
        generic: str = generic_type.name
        for node, contract in self.NODE_NAMES.items():
            if name == node + generic:
                return contract + generic
        return name


async def read_page(
    read: Callable[[], AbstractAsyncContextManager[AsyncSession]],
    listing: Paged[R],
    request: PageRequest,
) -> Page[R]:
    """The requested page of a domain listing, read in its own short transaction, whose ``totalCount``
    (when a client asks for it) counts every row of the listing in another."""
    window = request.window(listing.keyset.kinds)

    async def count() -> int:
        async with read() as session:
            return await listing.count(session)

    async with read() as session:
        found = await listing.page(session, window)
    return Page(
        rows=found.rows,
        cursors=found.cursors,
        has_next=found.has_next,
        has_previous=found.has_previous,
        count=count,
    )
