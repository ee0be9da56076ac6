"""Decoding request bodies that anyone may send: malformed input is the client's error, never a fault."""

from __future__ import annotations

import json
from typing import Any


class MalformedBody(ValueError):
    """The body is no JSON this service reads: invalid text or JSON, nesting too deep, a number too long."""


def loads(data: str | bytes) -> Any:
    """``json.loads``, with every way it fails on hostile input turned into ``MalformedBody``.

    Python's decoder recurses per nesting level (``[`` x 200000 raises RecursionError) and refuses
    integers longer than 4300 digits (ValueError); both, like invalid UTF-8, are the sender's fault.
    """
    try:
        return json.loads(data)
    except RecursionError:
        raise MalformedBody("the JSON is nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as error:
        raise MalformedBody(f"the body is not valid JSON: {type(error).__name__}") from None
