from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from apps.members.models import MemberToken


class IsMember(BasePermission):
    """The caller is a member, through a valid member token; views then only ever read ``request.auth.member``."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.auth, MemberToken)
