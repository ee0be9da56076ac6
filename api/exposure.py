"""What the API shows of itself: GraphiQL, introspection and field suggestions, and CORS.

In development all of it helps; in production (``INCIDENTDESK_ENV=production``) GraphiQL, anonymous
introspection and field suggestions are off unless enabled one by one, and browsers may call the API
only from the origins listed in ``INCIDENTDESK_CORS_ORIGINS``.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql.validation import NoSchemaIntrospectionCustomRule
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from strawberry.extensions import SchemaExtension

from domain.settings import Settings


class AnonymousIntrospection(SchemaExtension):
    """Refuses ``__schema`` and ``__type`` to callers without a token. A member's token still reads the
    schema (their tools need it); the anonymous public status needs no introspection."""

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        if getattr(context.context, "principal", None) is None:
            context.validation_rules = (*context.validation_rules, NoSchemaIntrospectionCustomRule)
        yield


def cors(settings: Settings) -> list[Middleware]:
    """Cross-origin access for the listed origins only; nothing when none is listed."""
    origins = settings.cors_origin_list()
    if not origins:
        return []
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST"],
            allow_headers=["authorization", "content-type", "x-tenant", "idempotency-key"],
            expose_headers=["Retry-After", "Idempotent-Replayed"],
            max_age=600,
        )
    ]


class InsecureSettings(RuntimeError):
    """The configuration must not serve production; the message has one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems
