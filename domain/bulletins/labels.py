"""How a status and a phase read to a visitor: the words of the status page, its feeds and its mails.

The live script (``/static/status.js``) writes the same words, so that a server render, a live one and a
mail about the same change read alike.
"""

from __future__ import annotations

from domain.bulletins.phases import BulletinPhase, ServiceStatus

STATUS_LABELS = {
    ServiceStatus.OPERATIONAL: "Operational",
    ServiceStatus.DEGRADED_PERFORMANCE: "Degraded performance",
    ServiceStatus.PARTIAL_OUTAGE: "Partial outage",
    ServiceStatus.MAJOR_OUTAGE: "Major outage",
    ServiceStatus.UNDER_MAINTENANCE: "Under maintenance",
}
PHASE_LABELS = {phase: phase.value.replace("_", " ").capitalize() for phase in BulletinPhase}
