from django.utils.translation import gettext as _
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from apps.core.api.authentication import authorization_credentials
from apps.core.models import hash_secret
from apps.members import selectors
from apps.members.models import MemberToken


class MemberTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <member token>``: the member app acting for one member."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[MemberToken, MemberToken] | None:
        raw = authorization_credentials(request, self.keyword)
        if raw is None:
            return None
        token = selectors.member_token_lookup(token_hash=hash_secret(raw))
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid, expired or revoked member token."))
        return token, token

    def authenticate_header(self, request: Request) -> str:
        return self.keyword
