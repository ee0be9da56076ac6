"""What clients read of the service catalogue (see domain/reads/model.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import aliased

from domain.bulletins.models import ServiceStatusRow
from domain.bulletins.phases import ServiceStatus
from domain.catalog import models as m
from domain.reads.model import (
    Alias,
    Attribute,
    Cardinality,
    Derived,
    Entity,
    Kind,
    Relation,
    attributes,
    relations,
)
from domain.reads.sql import const


def _status(s: Alias) -> ColumnElement[Any]:
    # Kept by every bulletin change; no row means nothing is declared: operational.
    row = aliased(ServiceStatusRow)
    declared = (
        select(row.status).where(row.tenant_id == s.tenant_id, row.service_id == s.id).scalar_subquery()
    )
    return func.coalesce(declared, const(ServiceStatus.OPERATIONAL.value))


SERVICE = Entity(
    name="Service",
    model=m.Service,
    attributes=attributes(
        Attribute("id", Kind.ID, nullable=False),
        Attribute("name", Kind.TEXT, nullable=False),
        Attribute("slug", Kind.TEXT, nullable=False),
        Attribute("description", Kind.TEXT),
        Attribute("status", Kind.ENUM, derived=Derived(_status), nullable=False),
    ),
    relations=relations(Relation("tenant", "Tenant", Cardinality.ONE, lambda s, t: t.id == s.tenant_id)),
)
