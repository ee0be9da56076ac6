"""What a pair of clock readings means for alerts, as pure functions (no I/O).

Each clock raises SLA_AT_RISK once when its elapsed time reaches the contract's at-risk percentage and
SLA_BREACHED once when it passes its target. Readings carry the crossing instants (``at_risk_at``,
``breached_at``: in the past when they happened, projected while the clock runs), and ``Noted`` says which
alerts were already recorded, so:

- ``alerts_due`` lists the alerts whose crossing has happened by ``now`` and that were not recorded yet,
  oldest first (a service that was down catches up on all of them at once);
- ``next_due`` is the earliest crossing not recorded yet, past or projected: when a scanner must look
  again. None means nothing can fall due until the history changes (paused, stopped, or all noted).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime

from domain.incidents.enums import IncidentEventKind
from domain.sla.clock import ClockReading


class ClockName(enum.StrEnum):
    RESPONSE = "response"
    RESOLUTION = "resolution"


@dataclass(frozen=True, slots=True)
class Noted:
    """Alerts already recorded, per clock. Flags only ever go from False to True."""

    response_at_risk: bool = False
    response_breached: bool = False
    resolution_at_risk: bool = False
    resolution_breached: bool = False


@dataclass(frozen=True, slots=True)
class Alert:
    clock: ClockName
    kind: IncidentEventKind  # SLA_AT_RISK or SLA_BREACHED
    at: datetime  # the crossing instant
    reading: ClockReading


_FLAGS = {
    (ClockName.RESPONSE, IncidentEventKind.SLA_AT_RISK): "response_at_risk",
    (ClockName.RESPONSE, IncidentEventKind.SLA_BREACHED): "response_breached",
    (ClockName.RESOLUTION, IncidentEventKind.SLA_AT_RISK): "resolution_at_risk",
    (ClockName.RESOLUTION, IncidentEventKind.SLA_BREACHED): "resolution_breached",
}


def _candidates(response: ClockReading | None, resolution: ClockReading | None, noted: Noted) -> list[Alert]:
    found: list[Alert] = []
    for name, reading in ((ClockName.RESPONSE, response), (ClockName.RESOLUTION, resolution)):
        if reading is None:
            continue
        for kind, instant in (
            (IncidentEventKind.SLA_AT_RISK, reading.at_risk_at),
            (IncidentEventKind.SLA_BREACHED, reading.breached_at),
        ):
            if instant is not None and not getattr(noted, _FLAGS[(name, kind)]):
                found.append(Alert(name, kind, instant, reading))
    # At risk comes before breached on the same clock; response before resolution on a tie.
    found.sort(key=lambda alert: alert.at)
    return found


def alerts_due(
    response: ClockReading | None, resolution: ClockReading | None, noted: Noted, now: datetime
) -> list[Alert]:
    """Alerts whose crossing happened by ``now`` and that are not recorded yet, oldest first."""
    return [alert for alert in _candidates(response, resolution, noted) if alert.at <= now]


def next_due(response: ClockReading | None, resolution: ClockReading | None, noted: Noted) -> datetime | None:
    """The earliest crossing not recorded yet (past or projected), or None."""
    pending = _candidates(response, resolution, noted)
    return pending[0].at if pending else None


def with_alerts(noted: Noted, alerts: list[Alert]) -> Noted:
    """``noted`` after recording ``alerts``."""
    changes = {_FLAGS[(alert.clock, alert.kind)]: True for alert in alerts}
    return replace(noted, **changes)
