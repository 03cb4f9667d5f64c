from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from apps.core.models import ApiClient


class IsTrustedClient(BasePermission):
    """The caller is an active API client holding every scope in the view's ``required_scopes``."""

    message = "This API key lacks the scope this endpoint requires."

    def has_permission(self, request: Request, view: Any) -> bool:
        client = request.auth
        if not isinstance(client, ApiClient):
            return False
        required = getattr(view, "required_scopes", {}).get(request.method, ())
        return all(client.has_scope(scope) for scope in required)
