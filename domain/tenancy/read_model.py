"""What clients read of tenants (see domain/reads/model.py). Tenants are a reference table: which of them
a caller may read is decided by the caller's scope, not by row-level security."""

from __future__ import annotations

from domain.reads.model import Attribute, Entity, Kind, attributes
from domain.tenancy import models as m

TENANT = Entity(
    name="Tenant",
    model=m.Tenant,
    attributes=attributes(
        Attribute("id", Kind.ID, nullable=False),
        Attribute("slug", Kind.TEXT, nullable=False),
        Attribute("name", Kind.TEXT, nullable=False),
        Attribute("timezone", Kind.TEXT, nullable=False),
        Attribute("public_status_page", Kind.BOOL, nullable=False),
        Attribute("auto_close_days", Kind.INT, nullable=False),
    ),
)
