"""The links incident mails offer, and what each carries: made by the producer, opened by the pages.

An incident link speaks for one member about one incident (``MemberLink``: tenant, incident and
membership ids, signed), and does one thing: confirm the resolution, reopen it, or rate the handling
(the rating itself is a plain query parameter: the page asks again before it records anything). An
unsubscribe link turns one kind of mail off for one member. Each kind has its own signing salt
(``MailLinks``), so no link works as another.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from domain.mail.links import LinkRefused
from domain.mail.rendering import Link
from domain.notices.preferences import NoticeKind

RATINGS = range(1, 6)


class LinkAction(enum.Enum):
    """What a link of an incident mail does, at which path."""

    CONFIRM = ("/mail/incidents/confirm", "incident.confirm")
    REOPEN = ("/mail/incidents/reopen", "incident.reopen")
    RATE = ("/mail/incidents/rate", "incident.rate")
    UNSUBSCRIBE = ("/mail/notifications/unsubscribe", "notifications.unsubscribe")

    @property
    def path(self) -> str:
        return self.value[0]

    @property
    def action(self) -> str:
        return self.value[1]


@dataclass(frozen=True)
class MemberLink:
    """Whom a link speaks for, and about what: a membership of a tenant, and an incident there (None
    for an unsubscribe link, which names the kind of mail instead)."""

    tenant_id: uuid.UUID
    membership_id: uuid.UUID
    incident_id: uuid.UUID | None = None
    kind: NoticeKind | None = None

    def data(self) -> dict[str, str]:
        data = {"t": str(self.tenant_id), "m": str(self.membership_id)}
        if self.incident_id is not None:
            data["i"] = str(self.incident_id)
        if self.kind is not None:
            data["k"] = self.kind.value
        return data

    def link(self, action: LinkAction, **query: str) -> Link:
        return Link(action.path, action.action, self.data(), query)

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> MemberLink:
        """The link's data as signed; LinkRefused for anything else (no signature ever covers it, but a
        link signed by an older release might carry another shape)."""
        try:
            return cls(
                tenant_id=uuid.UUID(str(data["t"])),
                membership_id=uuid.UUID(str(data["m"])),
                incident_id=uuid.UUID(str(data["i"])) if "i" in data else None,
                kind=NoticeKind(data["k"]) if "k" in data else None,
            )
        except (KeyError, ValueError):
            raise LinkRefused("this link is not valid") from None


def incident_links(member: MemberLink, *, resolution: bool, survey: bool) -> dict[str, Link]:
    """The links of one member's incident mail: confirm and reopen a resolution, or the five ratings."""
    links: dict[str, Link] = {}
    if resolution:
        links["confirm"] = member.link(LinkAction.CONFIRM)
        links["reopen"] = member.link(LinkAction.REOPEN)
    if survey:
        for score in RATINGS:
            links[f"rate_{score}"] = member.link(LinkAction.RATE, rating=str(score))
    return links


def unsubscribe_link(tenant_id: uuid.UUID, membership_id: uuid.UUID, kind: NoticeKind) -> Link:
    return MemberLink(tenant_id, membership_id, kind=kind).link(LinkAction.UNSUBSCRIBE)


def rating(text: str | None) -> int | None:
    """A survey link's rating, 1 to 5; None for anything else (a link someone edited)."""
    if text is None or len(text) != 1 or text not in "12345":
        return None
    return int(text)
