"""``subscribeToStatusPage``: a portal's own subscribe form, anonymous like the public page itself."""

from __future__ import annotations

import strawberry

from api import fields
from api.context import Info
from api.errors import UserError, attempt
from api.mutation import Mutation


@strawberry.input(name="SubscribeToStatusPageInput")
class SubscribeToStatusPageInput:
    tenant_slug: str
    email: str
    services: list[str] | None = strawberry.field(
        default=None,
        description="Slugs of the page's services to follow; null: every service, those added later too",
    )


@strawberry.type(name="SubscribeToStatusPagePayload")
class SubscribeToStatusPagePayload:
    accepted: bool = strawberry.field(
        description=(
            "True when the request was taken: a mail is on its way to the address, saying what to do next."
            " The answer is the same whether or not the address is subscribed already"
        )
    )
    user_errors: list[UserError]


@strawberry.type
class StatusSubscriberMutations:
    @fields.mutation(
        description=(
            "No token needed. Subscribe an address to a public status page's mails; the address's owner"
            " confirms through a link mailed to it (valid 48 hours). Rate limited per client and per address"
        )
    )
    async def subscribe_to_status_page(
        self, info: Info, input: SubscribeToStatusPageInput
    ) -> SubscribeToStatusPagePayload:
        ctx = info.context
        run = Mutation(info)
        desk = ctx.subscriptions
        if desk is None:  # a schema served without the app (an export of the schema, say)
            raise RuntimeError("subscriptions are not served here")
        request = ctx.request
        client = (
            (request.client.host, request.client.port) if request is not None and request.client else None
        )
        too_many, refused = await attempt(
            lambda: desk.subscribe(
                client, tenant_slug=input.tenant_slug, email=input.email, services=input.services
            )
        )
        if too_many is not None:
            refused = too_many.refused()
        errors = run.user_errors(refused.problems) if refused is not None else []
        return SubscribeToStatusPagePayload(accepted=not errors, user_errors=errors)
