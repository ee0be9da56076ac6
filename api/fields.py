"""strawberry's resolver decorators that take arguments, with the type of what they return.

``@strawberry.field(description=...)`` (and ``mutation``, ``subscription``) is typed by strawberry as
returning ``Any``, because the same call also declares a plain field with a default; a resolver under it
would be untyped. These make the same call and say what it returns: the ``StrawberryField``,
which then takes the resolver. The bare ``@strawberry.field`` is typed already and stays as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import strawberry
from strawberry.permission import BasePermission
from strawberry.types.field import StrawberryField

# A Sequence, not strawberry's list: a list such as [IsAuthenticated] is accepted as it is inferred.
Permissions = Sequence[type[BasePermission]]


def _permissions(classes: Permissions | None) -> list[type[BasePermission]] | None:
    return list(classes) if classes is not None else None


# Each cast states what strawberry returns without a resolver, which its overloads leave as Any.


def field(
    *, description: str | None = None, permission_classes: Permissions | None = None
) -> StrawberryField:
    made = strawberry.field(description=description, permission_classes=_permissions(permission_classes))
    return cast(StrawberryField, made)


def mutation(
    *, description: str | None = None, permission_classes: Permissions | None = None
) -> StrawberryField:
    made = strawberry.mutation(description=description, permission_classes=_permissions(permission_classes))
    return cast(StrawberryField, made)


def subscription(
    *, description: str | None = None, permission_classes: Permissions | None = None
) -> StrawberryField:
    made = strawberry.subscription(
        description=description, permission_classes=_permissions(permission_classes)
    )
    return cast(StrawberryField, made)
