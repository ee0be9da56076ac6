"""Every entity of the read model, by the name clients know it by."""

from __future__ import annotations

from domain.catalog.read_model import SERVICE
from domain.incidents.read_model import INCIDENT, INCIDENT_EVENT, INCIDENT_TASK, RESPONDER
from domain.reads.model import Entity
from domain.tenancy.read_model import TENANT

ENTITIES: dict[str, Entity] = {
    entity.name: entity for entity in (INCIDENT, INCIDENT_EVENT, INCIDENT_TASK, RESPONDER, SERVICE, TENANT)
}
