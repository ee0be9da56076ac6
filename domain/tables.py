"""Every mapped table, imported in one place so ``Base.metadata`` is complete (migrations compare it)."""

from domain import idempotency as idempotency_models
from domain.billing import models as billing_models
from domain.bulletins import models as bulletin_models
from domain.catalog import models as catalog_models
from domain.db import Base
from domain.incidents import models as incident_models
from domain.intake import models as intake_models
from domain.mail import models as mail_models
from domain.notices import member_models as notice_models
from domain.sla import models as sla_models
from domain.status_subscribers import models as status_subscriber_models
from domain.tenancy import models as tenancy_models
from domain.webhooks import models as webhook_models

metadata = Base.metadata

__all__ = [
    "billing_models",
    "bulletin_models",
    "catalog_models",
    "idempotency_models",
    "incident_models",
    "intake_models",
    "mail_models",
    "metadata",
    "notice_models",
    "sla_models",
    "status_subscriber_models",
    "tenancy_models",
    "webhook_models",
]
