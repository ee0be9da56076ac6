"""The one error authentication raises for a bad bearer token."""

from __future__ import annotations


class InvalidToken(Exception):
    """A token was refused. ``reason`` is safe to log; the API should answer a bare 401 rather than echo it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
