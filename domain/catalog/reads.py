"""Reading the catalogue: the services listing."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import select

from domain.catalog.models import Service
from domain.reads.pages import Keyset, Paged

BY_NAME = Keyset((Service.name, Service.id))


def service_listing(*, tenant_ids: Collection[uuid.UUID]) -> Paged[Service]:
    """The services of ``tenant_ids``, by name."""
    return Paged(select(Service).where(Service.tenant_id.in_(tenant_ids)), BY_NAME)
