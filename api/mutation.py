"""The way every mutation runs: decode the input, call one use case, answer userErrors.

A mutation resolver builds a ``Mutation`` from its ``info``, decodes the global IDs and tenants of its
input through it, and calls one use case with keyword arguments::

    run = Mutation(info, names={"incident_id": "id"})
    target = run.node_id(input.id, "Incident", "incident_id")
    return incident_payload(*await run(handling.resume_incident, incident_id=target, ...))

Decoding never raises: a malformed or foreign ID is remembered as a problem (and stands in as a
placeholder), so that every bad ID of the input is reported at once and the use case is not called.

Refusals name the domain's fields (``expected_version``, ``tenant_ids``); the runner turns them into GraphQL
paths in the mutation's input (``["input", "expectedVersion"]``): the first name camel-cased, indexes kept,
and the names that the input spells otherwise given in ``names`` (the use case's ``incident_id`` is the
input's ``id``).
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import Any, Concatenate, ParamSpec, TypeVar

from strawberry.utils.str_converters import to_camel_case

from api.context import Info
from api.errors import UserError, attempt
from api.relay import decode_id
from api.tenancy.resolve import find_tenant_id, resolve_tenant
from domain.db import Database
from domain.errors import ErrorCode, Problem, Refused
from domain.tenancy.actor import Actor

P = ParamSpec("P")
T = TypeVar("T")

# Stands for an ID that could not be decoded; never reaches a use case (the call is refused first).
UNDECODED = uuid.UUID(int=0)


def graphql_path(
    field: Sequence[str] | None, *, root: Sequence[str] = ("input",), names: Mapping[str, str] | None = None
) -> list[str] | None:
    """The GraphQL path of a domain field: ``("targets", "2", "response_minutes")`` -> ``["input",
    "targets", "2", "responseMinutes"]``."""
    if not field:
        return None
    first, *rest = field
    name = (names or {}).get(first) or to_camel_case(first)
    return [*root, name, *(part if part.isdigit() else to_camel_case(part) for part in rest)]


def arguments_of(input: Any, *, skip: Collection[str] = ()) -> dict[str, Any]:
    """A GraphQL input's fields as keyword arguments of the same names, where the input and the use case
    say the same thing by the same words."""
    return {f.name: getattr(input, f.name) for f in dataclasses.fields(input) if f.name not in skip}


def words(type_name: str) -> str:
    """How a refusal names a type: ``IncidentModel`` -> ``incident model``."""
    return re.sub(r"(?<!^)(?=[A-Z])", " ", type_name).lower()


class Mutation:
    """One mutation of one request: the problems its decoding found, and how its fields are named."""

    def __init__(
        self, info: Info, *, names: Mapping[str, str] | None = None, root: Sequence[str] = ("input",)
    ) -> None:
        self.ctx = info.context
        self.names = dict(names or {})
        self.root = tuple(root)
        self.problems: list[Problem] = []

    def refuse(self, code: ErrorCode, message: str, *field: str) -> None:
        """Remember a refusal found while decoding: the use case will not be called."""
        self.problems.append(Problem(code, message, tuple(field) or None))

    def node_id(self, value: str, type_name: str, *field: str, what: str | None = None) -> uuid.UUID:
        """The row id in a global ID of ``type_name``. Anything else (malformed, another type) is
        NOT_FOUND, in the same words as a row of another tenant (``what``, or the type's name)."""
        decoded = decode_id(value, type_name)
        if decoded is None:
            self.refuse(ErrorCode.NOT_FOUND, f"{what or words(type_name)} not found", *field)
            return UNDECODED
        return decoded

    def optional_node_id(self, value: str | None, type_name: str, *field: str) -> uuid.UUID | None:
        return None if value is None else self.node_id(value, type_name, *field)

    def _too_many(self, values: Sequence[str], field: str, at_most: int, unit: str) -> bool:
        """Whether a list is longer than it may be (then refused, before any of it is decoded)."""
        if len(values) <= at_most:
            return False
        self.refuse(ErrorCode.LIMIT_EXCEEDED, f"at most {at_most} {unit}", field)
        return True

    def node_ids(self, values: Sequence[str], type_name: str, field: str, *, at_most: int) -> list[uuid.UUID]:
        """Several global IDs of ``type_name``; more than ``at_most`` are refused before any is decoded."""
        if self._too_many(values, field, at_most, "per call"):
            return []
        return [self.node_id(value, type_name, field, str(index)) for index, value in enumerate(values)]

    async def tenant_id(self, value: str | None, *field: str) -> uuid.UUID:
        """The caller's tenant named by a global ID or slug, or the caller's only tenant when omitted
        (``api.tenancy.resolve.resolve_tenant``)."""
        try:
            return await resolve_tenant(self.ctx, value, *field)
        except Refused as refused:
            self.problems.extend(refused.problems)
            return UNDECODED

    async def tenant_ids(self, values: Sequence[str], field: str, *, at_most: int) -> list[uuid.UUID]:
        """Several of the caller's tenants (see ``tenant_id``); more than ``at_most`` are refused before
        any is looked up."""
        if self._too_many(values, field, at_most, "tenants per call"):
            return []
        return [await self.tenant_id(value, field, str(index)) for index, value in enumerate(values)]

    async def any_tenant_id(self, value: str, *field: str) -> uuid.UUID:
        """A tenant named by a global ID or slug, whether or not the caller belongs to it: for the use
        cases that act on other tenants (a provider's major incident, an operator's memberships). One that
        does not exist becomes an id no tenant has, so that the use case refuses it itself, after the
        checks it makes first (a caller who may not add members learns nothing of which tenants exist)."""
        found = await find_tenant_id(self.ctx, value)
        return uuid.uuid4() if found is None else found

    async def any_tenant_ids(self, values: Sequence[str], field: str, *, at_most: int) -> list[uuid.UUID]:
        """Several tenants by global ID or slug (see ``any_tenant_id``); more than ``at_most`` are refused
        before any is looked up."""
        if self._too_many(values, field, at_most, "tenants per call"):
            return []
        return [await self.any_tenant_id(value, field, str(index)) for index, value in enumerate(values)]

    async def __call__(
        self,
        use_case: Callable[Concatenate[Database, Actor, P], Awaitable[T]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> tuple[T | None, list[UserError]]:
        """Call the use case as the caller, unless decoding found problems; its refusals become userErrors."""
        if self.problems:
            return None, self.user_errors(self.problems)
        ctx = self.ctx
        actor = ctx.actor()
        result, refused = await attempt(lambda: use_case(ctx.db, actor, *args, **kwargs))
        return result, [] if refused is None else self.user_errors(refused.problems)

    def user_errors(self, problems: Sequence[Problem]) -> list[UserError]:
        return [
            UserError(
                field=graphql_path(p.field, root=self.root, names=self.names), message=p.message, code=p.code
            )
            for p in problems
        ]
