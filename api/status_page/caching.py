"""Caching headers of the status page's answers: a strong ETag (a hash of the body) and a short
max-age, and 304 Not Modified to a client that already holds the same body.

The body is hashed rather than stamped with a version: every change that a visitor would see changes
the bytes, and nothing else does, so a revalidation is right whatever changed.
"""

from __future__ import annotations

import hashlib

from starlette.requests import Request
from starlette.responses import Response

# Feeds, the summary and the badge are polled: a minute-old answer is fine, and readers come back
# soon after an outage begins.
SHORT = "public, max-age=60"
# The page itself is live; a browser revalidates it on every visit (and gets a 304 when unchanged).
REVALIDATE = "no-cache"


def etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:40] + '"'


def _matches(header: str, tag: str) -> bool:
    """If-None-Match uses the weak comparison (RFC 9110 13.1.2): ``W/"x"`` matches ``"x"``."""
    if header.strip() == "*":
        return True
    return any(candidate.strip().removeprefix("W/") == tag for candidate in header.split(","))


def cached(request: Request, response: Response, cache_control: str) -> Response:
    """``response`` with its ETag and Cache-Control, or a bodiless 304 carrying the same headers when
    the request's If-None-Match names the body already."""
    tag = etag(bytes(response.body))
    response.headers["ETag"] = tag
    response.headers["Cache-Control"] = cache_control
    if _matches(request.headers.get("if-none-match", ""), tag):
        kept = {
            k: v for k, v in response.headers.items() if k.lower() not in {"content-length", "content-type"}
        }
        return Response(status_code=304, headers=kept)
    return response
