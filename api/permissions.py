"""Permission classes: who may call a field at all. Finer rules (role, scope, tenant) live in the domain."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission

from api.context import Info


class IsAuthenticated(BasePermission):
    message = "authentication required"
    error_extensions = {"code": "UNAUTHENTICATED"}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return info.context.principal is not None


class IsOperator(BasePermission):
    message = "only platform operators may do this"
    error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return info.context.principal is not None and info.context.principal.is_operator
