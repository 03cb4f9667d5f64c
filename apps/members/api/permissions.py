from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from apps.core.models import ApiClient, ApiScope, User
from apps.members.models import MemberToken


class IsMember(BasePermission):
    """The caller is a member, through a valid member token; views then only ever read ``request.auth.member``."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.auth, MemberToken)


class CanHandleDataRequests(BasePermission):
    """PIPL requests: a trusted system holding ``members:rights``, or a signed-in staff user with the permission.

    Staff need ``members.export_member_data`` to export and ``members.anonymise_member`` to anonymise.
    """

    staff_permissions = {"GET": "members.export_member_data", "POST": "members.anonymise_member"}

    def has_permission(self, request: Request, view: Any) -> bool:
        if isinstance(request.auth, ApiClient):
            return request.auth.has_scope(ApiScope.MEMBER_DATA_RIGHTS)
        user = request.user
        permission = self.staff_permissions.get(request.method)
        return isinstance(user, User) and user.is_authenticated and user.is_staff and permission is not None and user.has_perm(permission)
