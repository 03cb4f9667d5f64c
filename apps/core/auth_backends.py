from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from apps.core import services
from apps.core.models import User


class GuardedModelBackend(ModelBackend):
    """Django's password check behind the sign-in guard: a locked account or address is refused even with the right password."""

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> User | None:
        username = username if username is not None else kwargs.get(User.USERNAME_FIELD, "")
        if not username or password is None:
            return None
        ip = services.client_ip(request) if request is not None else None
        if services.staff_login_locked(username=username, ip=ip):
            raise PermissionDenied
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            services.staff_login_failed(username=username, request=request)
        else:
            services.staff_login_succeeded(username=username)
        return user
