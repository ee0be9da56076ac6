"""User errors: expected refusals travel in the payload, never as top-level GraphQL errors."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import strawberry
from graphql import GraphQLError
from sqlalchemy.exc import DBAPIError
from strawberry.extensions import MaskErrors

from domain.db import is_unavailable
from domain.errors import ErrorCode, Problem, Refused

T = TypeVar("T")

# strawberry.enum marks the class in place and returns it: the GraphQL enum is the domain's class itself,
# and the name below is a plain alias of it, which annotations can use as a type.
strawberry.enum(ErrorCode, name="UserErrorCode")
UserErrorCode = ErrorCode

# What a client reads in place of a server fault's own message.
MASKED_MESSAGE = "Internal server error"


UNAVAILABLE = "UNAVAILABLE"


def reports_a_fault(body: str) -> bool:
    """Whether a GraphQL response body (JSON) carries a masked server fault, or says the database was
    unavailable: either way the request may not have run, and a retry must run it."""
    try:
        document = json.loads(body)
    except ValueError:
        return False
    errors = document.get("errors") if isinstance(document, dict) else None
    return isinstance(errors, list) and any(
        isinstance(e, dict)
        and (
            e.get("message") == MASKED_MESSAGE
            or (isinstance(e.get("extensions"), dict) and e["extensions"].get("code") == UNAVAILABLE)
        )
        for e in errors
    )


@strawberry.type(name="UserError")
class UserError:
    field: list[str] | None
    message: str
    code: UserErrorCode


# A PostgreSQL data exception (class 22: a NUL character in text, a date out of its range...) is the
# input's fault, and its transaction has rolled back: the caller is told so rather than failed.
UNACCEPTABLE_VALUE = Problem(
    ErrorCode.INVALID, "a value is not acceptable (for example a NUL character, or a date out of range)"
)


async def attempt(action: Callable[[], Awaitable[T]]) -> tuple[T | None, Refused | None]:
    """Run one use case; its refusal is returned, not raised (its transaction has already rolled back).
    Use cases retry their own deadlocks (``domain.db.use_case``)."""
    try:
        return await action(), None
    except Refused as refused:
        return None, refused
    except Exception as error:
        if is_unavailable(error):
            raise unavailable() from None
        if isinstance(error, DBAPIError) and str(getattr(error.orig, "sqlstate", "") or "").startswith("22"):
            return None, Refused([UNACCEPTABLE_VALUE])
        raise


def unavailable() -> ClientError:
    """The database could not be reached: the request did not complete, and may be sent again."""
    return ClientError("the service is briefly unavailable (its database); retry shortly", UNAVAILABLE)


class ClientError(GraphQLError):
    """A top-level error meant for the client (malformed request, authentication): never masked."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message, extensions={"code": code})


def should_mask(error: GraphQLError) -> bool:
    """Mask everything that is not a deliberate client error: no stack trace or SQL reaches a client."""
    original = error.original_error
    if original is None:
        return False  # parse and validation errors raised by graphql-core itself
    if error.path is None:
        # Raised before execution, while coercing the request's variables (e.g. a DateTime without an
        # offset): the message describes the client's own input and carries nothing of the server.
        return False
    if isinstance(original, ClientError):
        return False
    return not (isinstance(original, GraphQLError) and original.extensions and "code" in original.extensions)


def refused_as_error(refused: Refused) -> ClientError:
    problem = refused.problems[0]
    return ClientError(problem.message, problem.code.value)


class MaskServerErrors(MaskErrors):
    """Strawberry's ``MaskErrors``, without its checks on the results that carry no error: every live
    result goes through ``on_stream_result``, once per subscriber, and the check is a runtime protocol
    ``isinstance``, which costs more than rendering a small event."""

    def on_stream_result(self, result: Any) -> Iterator[None]:
        if any(getattr(result, name, None) for name in ("errors", "incremental", "completed")):
            yield from super().on_stream_result(result)
            return
        self._stream_result_processed = True
        yield None
