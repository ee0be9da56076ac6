"""Service slugs: how a public status page names a service in a URL or a subscription's filter."""

from __future__ import annotations

import re
import unicodedata

MAX_SLUG = 60


def slug_of(name: str) -> str:
    """``"E-Mail & Calendar"`` -> ``"e-mail-calendar"``: ASCII letters and digits, words joined by ``-``."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:MAX_SLUG].strip("-")
    return slug or "service"


def candidates(name: str) -> list[str]:
    """The slugs a new service of this name may take, in order: its own, then ``-2``, ``-3``..."""
    base = slug_of(name)
    return [base, *(f"{base}-{n}" for n in range(2, 100))]
