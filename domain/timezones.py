"""IANA timezone names, as tenants and SLA contracts accept them."""

from __future__ import annotations

import zoneinfo
from functools import lru_cache

# Files a system's zoneinfo directory holds beside the database's zones: not names a contract can mean.
NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})


@lru_cache(maxsize=1)
def _known() -> frozenset[str]:
    return frozenset(
        name
        for name in zoneinfo.available_timezones()
        if name not in NOT_ZONES and not name.startswith(("posix/", "right/"))
    )


def is_iana_timezone(name: str) -> bool:
    """A name of the IANA database (``Europe/Berlin``), not merely a file zoneinfo can open (``localtime``)."""
    return name in _known()
