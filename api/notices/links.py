"""The pages behind the links of incident mails: confirm or reopen a resolution, rate the handling,
stop a kind of mail.

``GET`` only shows what the link is about, with a button: mail scanners and link previews fetch every
link of a mail, and must not close an incident by doing so. The button ``POST``s to the same address,
which answers as the member the mail was sent to, through the domain (``domain/notices/link_actions``),
and shows the outcome. An unsubscribe link also takes RFC 8058's one-click ``POST`` from a mail client.

A link that was altered, is of another kind or has expired answers 400; one whose member or incident is
gone, 404; an answer the incident no longer takes (already closed, already rated) says why, with 409.
Nothing here answers 500 for anything a link can carry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.templating import Jinja2Templates

from api.templating import environment
from domain.db import Database
from domain.errors import ErrorCode, Refused
from domain.incidents.models import Incident
from domain.mail.links import LinkRefused, MailLinks
from domain.notices import link_actions
from domain.notices.incident_mail import STATUS_LABELS
from domain.notices.link_actions import LinkedIncident, LinkOpener
from domain.notices.links import RATINGS, LinkAction, rating
from domain.notices.preferences import NoticeKind
from domain.settings import Settings

PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    # The address carries the link's token: it must not travel on to another site, or into a cache.
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

STATUS_OF = {ErrorCode.NOT_FOUND: 404, ErrorCode.FORBIDDEN: 403, ErrorCode.INVALID: 400}

KIND_WORDS = {
    NoticeKind.PUBLIC_UPDATES: "updates of incidents",
    NoticeKind.RESOLUTION: "resolutions",
    NoticeKind.SURVEY: "satisfaction surveys",
    NoticeKind.ASSIGNMENT: "incidents assigned to you",
    NoticeKind.SLA_AT_RISK: "SLAs at risk",
}

HEADINGS = {
    LinkAction.CONFIRM: "Confirm the resolution",
    LinkAction.REOPEN: "Reopen the incident",
    LinkAction.RATE: "Rate the handling",
}

_environment = environment()
_environment.globals["STATUS_LABELS"] = STATUS_LABELS
_templates = Jinja2Templates(env=_environment)


def _page(request: Request, status_code: int, heading: str, **context: Any) -> Response:
    values = {"incident": None, "message": None, "form": None, "action": "", "reason": "", **context}
    response = _templates.TemplateResponse(
        request,
        "mail_link.html",
        {"heading": heading, "ratings": list(RATINGS), **values},
        status_code=status_code,
    )
    response.headers.update(PAGE_HEADERS)
    return response


def _link_refused(request: Request, refused: LinkRefused) -> Response:
    message = (
        "This link has expired. The mail it came with is too old to answer."
        if refused.expired
        else "This link is not valid. Copy it again from the mail, whole."
    )
    return _page(request, 400, "This link does not work", message=message)


async def _form(request: Request) -> dict[str, str] | None:
    """A posted form's fields (``application/x-www-form-urlencoded``), first value of each; None when
    the body is no such form."""
    try:
        fields = parse_qs(
            (await request.body()).decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=False,
            max_num_fields=20,
        )
    except (UnicodeDecodeError, ValueError):
        return None
    return {name: values[0] for name, values in fields.items()}


class LinkPages:
    def __init__(self, db: Database, opener: LinkOpener) -> None:
        self.db = db
        self.opener = opener

    @staticmethod
    def _token(request: Request) -> str:
        return request.query_params.get("token", "")

    @staticmethod
    def _action_url(request: Request, **query: str) -> str:
        """Where the page's button posts: this page again, with the link's token."""
        return f"{request.url.path}?{urlencode({'token': request.query_params.get('token', ''), **query})}"

    async def _incident(self, action: LinkAction, token: str) -> LinkedIncident | None:
        try:
            return await link_actions.linked_incident(self.db, self.opener, action=action, token=token)
        except (LinkRefused, Refused):
            return None

    async def _ask(self, request: Request, action: LinkAction, form: str, **context: Any) -> Response:
        """The page a GET shows: the incident, and the button (unless the answer would be refused now)."""
        heading = HEADINGS[action]
        try:
            incident = await link_actions.linked_incident(
                self.db, self.opener, action=action, token=self._token(request)
            )
        except LinkRefused as refused:
            return _link_refused(request, refused)
        except Refused:
            return _gone(request)
        if incident.refusal is not None:
            return _page(
                request, 200, heading, incident=incident, message=f"Nothing to do: {incident.refusal}."
            )
        return _page(
            request, 200, heading, incident=incident, form=form, action=self._action_url(request), **context
        )

    async def _answer(
        self,
        request: Request,
        action: LinkAction,
        answer: Callable[[], Awaitable[Incident]],
        done: Callable[[Incident], str],
        *,
        form: str | None = None,
        **context: Any,
    ) -> Response:
        """The page a POST shows: the outcome of the member's answer, or why it was refused."""
        try:
            incident = await answer()
        except LinkRefused as refused:
            return _link_refused(request, refused)
        except Refused as refused:
            problem = refused.problems[0]
            if problem.code is ErrorCode.NOT_FOUND:
                return _gone(request)
            status = STATUS_OF.get(problem.code, 409)
            linked = await self._incident(action, self._token(request))
            again = form if problem.code is ErrorCode.INVALID else None
            said = problem.message
            if problem.field:
                said = f"{problem.field[-1].replace('_', ' ')}: {said}"
            return _page(
                request,
                status,
                HEADINGS[action] if again else "Nothing was changed",
                incident=linked,
                message=f"{said[:1].upper()}{said[1:]}.",
                form=again,
                action=self._action_url(request),
                **context,
            )
        return _page(request, 200, "Thank you", message=done(incident))

    async def confirm(self, request: Request) -> Response:
        if request.method == "GET":
            return await self._ask(request, LinkAction.CONFIRM, "confirm")
        return await self._answer(
            request,
            LinkAction.CONFIRM,
            lambda: link_actions.confirm_resolution(self.db, self.opener, token=self._token(request)),
            lambda incident: f"{incident.display_number} is closed. Thank you for confirming.",
        )

    async def reopen(self, request: Request) -> Response:
        if request.method == "GET":
            return await self._ask(request, LinkAction.REOPEN, "reopen")
        fields = await _form(request) or {}
        reason = fields.get("reason", "")
        return await self._answer(
            request,
            LinkAction.REOPEN,
            lambda: link_actions.reopen_resolution(
                self.db, self.opener, token=self._token(request), reason=reason
            ),
            lambda incident: f"{incident.display_number} is open again: the service desk will take it up.",
            form="reopen",
            reason=reason,
        )

    async def rate(self, request: Request) -> Response:
        chosen = rating(request.query_params.get("rating"))
        if chosen is None:
            return _page(
                request, 400, "This link does not work", message="This link is not valid: no rating 1 to 5."
            )
        if request.method == "GET":
            return await self._ask(request, LinkAction.RATE, "rate", rating=chosen)
        fields = await _form(request) or {}
        score = rating(fields["rating"]) if "rating" in fields else chosen
        if score is None:
            return _page(request, 400, HEADINGS[LinkAction.RATE], message="Choose a rating from 1 to 5.")
        comment = fields.get("comment") or None
        return await self._answer(
            request,
            LinkAction.RATE,
            lambda: link_actions.rate_handling(
                self.db, self.opener, token=self._token(request), score=score, comment=comment
            ),
            lambda incident: f"Your rating of {incident.display_number}: {score} of 5. Thank you.",
            form="rate",
            rating=score,
        )

    async def unsubscribe(self, request: Request) -> Response:
        heading = "Stop these mails"
        token = self._token(request)
        if request.method == "GET":
            try:
                member = self.opener.open(LinkAction.UNSUBSCRIBE, token)
            except LinkRefused as refused:
                return _link_refused(request, refused)
            assert member.kind is not None
            return _page(
                request,
                200,
                heading,
                message=f"You will no longer receive mails about {KIND_WORDS[member.kind]}.",
                form="unsubscribe",
                action=self._action_url(request),
            )
        try:
            kind, tenant_name = await link_actions.unsubscribe(self.db, self.opener, token=token)
        except LinkRefused as refused:
            return _link_refused(request, refused)
        except Refused:
            return _gone(request)
        return _page(
            request,
            200,
            "Done",
            message=(
                f"You will no longer receive mails about {KIND_WORDS[kind]} at {tenant_name}."
                " Your notification preferences can turn them on again."
            ),
        )


def _gone(request: Request) -> Response:
    return _page(
        request,
        404,
        "This link does not work",
        message="The incident or the membership this link was sent for no longer exists.",
    )


def routes(db: Database, settings: Settings) -> list[BaseRoute]:
    opener = LinkOpener(MailLinks.for_settings(settings), timedelta(days=settings.mail_link_days))
    pages = LinkPages(db, opener)
    both = ["GET", "POST"]
    return [
        Route(LinkAction.CONFIRM.path, pages.confirm, methods=both),
        Route(LinkAction.REOPEN.path, pages.reopen, methods=both),
        Route(LinkAction.RATE.path, pages.rate, methods=both),
        Route(LinkAction.UNSUBSCRIBE.path, pages.unsubscribe, methods=both),
    ]
