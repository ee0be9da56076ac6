"""Every mapped table, imported in one place so ``Base.metadata`` is complete (migrations compare it)."""

from domain.catalog import models as catalog_models
from domain.db import Base
from domain.incidents import models as incident_models
from domain.tenancy import models as tenancy_models

metadata = Base.metadata

__all__ = ["catalog_models", "incident_models", "metadata", "tenancy_models"]
