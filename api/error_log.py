"""How GraphQL errors are logged: a client's mistake at INFO, a server fault at ERROR, neither with the
document's literal values.

A client error (a syntax or validation error, bad variables, a refused argument) is the caller's
business and routine under attack, so it is logged at INFO, in one line. A server fault is logged at
ERROR with its traceback. Neither carries the document's text, and every literal value the request
carried (strings and numbers of the document, the variables' values) is cut out of the message: a
document may hold a customer's words or a secret, and logs are read by more people than the data.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from graphql import GraphQLError
from graphql.language import Lexer, Source, TokenKind

from api.errors import should_mask
from api.request_log import note_error

log = logging.getLogger("incidentdesk.graphql")

REDACTED = "<redacted>"
_LITERAL_KINDS = frozenset({TokenKind.STRING, TokenKind.BLOCK_STRING, TokenKind.INT, TokenKind.FLOAT})
# Lexing stops here: a huge document's literals beyond it are cut by length instead.
_MAX_TOKENS = 20_000
_MAX_MESSAGE = 300


def document_literals(document: str | None) -> set[str]:
    """The literal values a document carries, found by the lexer (so an invalid document works too)."""
    found: set[str] = set()
    if not document:
        return found
    lexer = Lexer(Source(document))
    try:
        for _ in range(_MAX_TOKENS):
            token = lexer.advance()
            if token.kind is TokenKind.EOF:
                break
            if token.kind in _LITERAL_KINDS and token.value:
                found.add(token.value)
    except GraphQLError:
        pass  # a syntax error ends the document; what was lexed so far is what it carried
    return found


def variable_literals(value: Any) -> set[str]:
    """Every leaf value of the variables, as text."""
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif item is not None and not isinstance(item, bool):
            found.add(str(item))
    return found


def redacted(message: str, literals: Iterable[str]) -> str:
    # Longest first, so a literal containing a shorter one is cut whole.
    for literal in sorted(literals, key=len, reverse=True):
        if literal and literal in message:
            message = message.replace(literal, REDACTED)
    return message if len(message) <= _MAX_MESSAGE else message[:_MAX_MESSAGE] + "..."


def log_errors(
    errors: list[GraphQLError], document: str | None, variables: Any, operation: str | None
) -> None:
    literals = document_literals(document) | variable_literals(variables)
    for error in errors:
        message = redacted(error.message, literals)
        where = ".".join(str(p) for p in error.path) if error.path else None
        if should_mask(error):
            note_error("INTERNAL_SERVER_ERROR", fault=True)
            log.error(
                "server fault in operation %s at %s: %s",
                operation or "-",
                where or "-",
                message,
                exc_info=error.original_error,
            )
        else:
            code = (error.extensions or {}).get("code", "GRAPHQL_VALIDATION_FAILED")
            note_error(str(code), fault=False)
            log.info("client error in operation %s (%s): %s", operation or "-", code, message)
