"""Expected refusals of a use case. The API turns them into ``userErrors``; nothing is written."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass


class ErrorCode(enum.StrEnum):
    INVALID = "INVALID"
    NOT_FOUND = "NOT_FOUND"
    FORBIDDEN = "FORBIDDEN"
    CONFLICT = "CONFLICT"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
    # Billing: the month an entry is dated in has been closed, so its entries are frozen.
    PERIOD_CLOSED = "PERIOD_CLOSED"


@dataclass(frozen=True)
class Problem:
    code: ErrorCode
    message: str
    # Path into the mutation's input, e.g. ("impact",).
    field: tuple[str, ...] | None = None


class Refused(Exception):
    """A use case refused its input; raising it rolls the transaction back."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = tuple(problems)

    @classmethod
    def one(cls, code: ErrorCode, message: str, *field: str) -> Refused:
        return cls([Problem(code, message, tuple(field) or None)])


def not_found(what: str, *field: str) -> Refused:
    # The same words whether the row is absent or belongs to another tenant: the two must not differ.
    return Refused.one(ErrorCode.NOT_FOUND, f"{what} not found", *field)


def forbidden(message: str, *field: str) -> Refused:
    return Refused.one(ErrorCode.FORBIDDEN, message, *field)


def invalid(message: str, *field: str) -> Refused:
    return Refused.one(ErrorCode.INVALID, message, *field)
