"""The status page's mail subscriptions, as plain HTML forms and links (no script, no cookie):

- ``POST /status/{slug}/subscribe`` (the page's form: ``email``, and ``services`` once per chosen
  service's slug, none for all): the same answer whatever the address's state;
- ``GET /status/{slug}/subscription/confirm?token=``: the link of the confirmation mail;
- ``GET /status/{slug}/unsubscribe?token=``: a page with a button, since mail scanners open links by
  themselves; ``POST`` to the same address unsubscribes. That POST is also RFC 8058's one-click
  unsubscribe, which a mail client sends with the body ``List-Unsubscribe=One-Click``: the token in the
  address is all it needs.

A link that was tampered with, has expired or belongs to another page answers 400 with a page saying
so; a tenant without a public page answers 404 like every route of the status page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from api.status_page.rendering import templates
from api.status_subscribers.desk import Subscriptions
from domain.bulletins.public import public_tenant
from domain.errors import ErrorCode, Problem, Refused
from domain.status_subscribers.service import CONFIRM_WITHIN, MAX_SERVICES, Subscription
from domain.tenancy.models import Tenant

T = TypeVar("T")

# Answers about one visitor's address: never kept by a cache on the way.
NOT_STORED = {"Cache-Control": "no-store"}

CHECK_INBOX = (
    "We have sent a mail to the address you gave. Follow the link in it within"
    f" {int(CONFIRM_WITHIN.total_seconds() // 3600)} hours to confirm your subscription; nothing else is"
    " sent to the address until then. If the address already receives these updates, the mail says so.",
)


def _followed(subscription: Subscription) -> str:
    if subscription.services:
        return f"for these services: {', '.join(subscription.services)}"
    return "for all its services"


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:] + "."


def _page_gone(refused: Refused) -> bool:
    """Whether the domain found no public page: switched off since this request first read it."""
    return any(problem.field == ("tenant_slug",) for problem in refused.problems)


def _form_problem(problem: Problem) -> str:
    """A refusal of the form, in the words of the form rather than of the API's fields."""
    if problem.field and problem.field[0] == "email":
        return "Please give one email address, such as name@example.com."
    if problem.field and problem.field[0] == "services" and problem.code is ErrorCode.NOT_FOUND:
        return "A service you chose is not on this page any more: reload the page and choose again."
    return _sentence(problem.message)


def routes(
    subscriptions: Subscriptions,
    *,
    page_headers: dict[str, str],
    not_found: Callable[[], Response],
) -> list[BaseRoute]:
    db = subscriptions.db

    def page(
        request: Request,
        tenant: Tenant,
        heading: str,
        lines: Sequence[str],
        *,
        status_code: int = 200,
        headers: dict[str, str] | None = None,
        **context: Any,
    ) -> Response:
        response = templates.TemplateResponse(
            request,
            "status_message.html",
            {"tenant": tenant, "heading": heading, "lines": lines, "action": None, **context},
            status_code=status_code,
            media_type="text/html",
            headers={**page_headers, **NOT_STORED, **(headers or {})},
        )
        return response

    def refused_link(request: Request, tenant: Tenant, refused: Refused) -> Response:
        lines = [_sentence(problem.message) for problem in refused.problems]
        return page(request, tenant, "This link does not work", lines, status_code=400)

    async def form_of(request: Request) -> FormData | None:
        try:
            return await request.form(max_files=0, max_fields=MAX_SERVICES + 10)
        except HTTPException:  # not a form Starlette can read (a broken multipart body, a file)
            return None

    async def subscribe(request: Request) -> Response:
        tenant = await public_tenant(db, request.path_params["slug"])
        if tenant is None:
            return not_found()
        form = await form_of(request)
        if form is None:
            return page(
                request, tenant, "That did not work", ["The form could not be read."], status_code=400
            )
        email = form.get("email")
        chosen = [value for value in form.getlist("services") if isinstance(value, str)]
        client = (request.client.host, request.client.port) if request.client else None
        try:
            too_many = await subscriptions.subscribe(
                client,
                tenant_slug=tenant.slug,
                email=email if isinstance(email, str) else "",
                services=chosen or None,
            )
        except Refused as refused:
            if _page_gone(refused):
                return not_found()
            lines = [_form_problem(p) for p in refused.problems]
            return page(request, tenant, "That did not work", lines, status_code=400)
        if too_many is not None:
            [problem] = too_many.refused().problems
            return page(
                request,
                tenant,
                "Too many requests",
                [_sentence(problem.message)],
                status_code=429,
                headers={"Retry-After": str(too_many.seconds)},
            )
        return page(request, tenant, "Check your inbox", CHECK_INBOX)

    async def following_link(
        request: Request, act: Callable[[Tenant, str], Awaitable[T]]
    ) -> tuple[Tenant, T] | Response:
        """The page's tenant and what the link's use case answered; or the page refusing the link (404
        for a page that is gone, as for an unknown slug)."""
        tenant = await public_tenant(db, request.path_params["slug"])
        if tenant is None:
            return not_found()
        try:
            return tenant, await act(tenant, request.query_params.get("token", ""))
        except Refused as refused:
            return not_found() if _page_gone(refused) else refused_link(request, tenant, refused)

    async def confirm(request: Request) -> Response:
        followed = await following_link(
            request, lambda tenant, token: subscriptions.confirm(tenant_slug=tenant.slug, token=token)
        )
        if isinstance(followed, Response):
            return followed
        tenant, subscription = followed
        lines = [
            f"This address receives {subscription.page_name} status updates {_followed(subscription)}.",
            "Every mail has a link to unsubscribe.",
        ]
        return page(request, tenant, "You are subscribed", lines)

    def unsubscribe_action(tenant: Tenant, token: str) -> str:
        return f"/status/{tenant.slug}/unsubscribe?{urlencode({'token': token})}"

    async def unsubscribe_page(request: Request) -> Response:
        followed = await following_link(
            request,
            lambda tenant, token: subscriptions.unsubscribe_target(tenant_slug=tenant.slug, token=token),
        )
        if isinstance(followed, Response):
            return followed
        tenant, _ = followed
        return page(
            request,
            tenant,
            "Unsubscribe",
            [f"Stop receiving {tenant.name} status updates at this address?"],
            action=unsubscribe_action(tenant, request.query_params.get("token", "")),
            button="Unsubscribe",
        )

    async def unsubscribe(request: Request) -> Response:
        followed = await following_link(
            request, lambda tenant, token: subscriptions.unsubscribe(tenant_slug=tenant.slug, token=token)
        )
        if isinstance(followed, Response):
            return followed
        tenant, _ = followed
        lines = [
            f"This address receives no more {tenant.name} status updates.",
            "Changed your mind? Subscribe again on the status page.",
        ]
        return page(request, tenant, "You are unsubscribed", lines)

    return [
        Route("/status/{slug}/subscribe", subscribe, methods=["POST"]),
        Route("/status/{slug}/subscription/confirm", confirm, methods=["GET"]),
        Route("/status/{slug}/unsubscribe", unsubscribe_page, methods=["GET"]),
        Route("/status/{slug}/unsubscribe", unsubscribe, methods=["POST"]),
    ]
