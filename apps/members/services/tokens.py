"""Short-lived member tokens for the member app: issued after the brand's own login, revocable."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.errors import ApplicationError
from apps.core.models import ApiClient
from apps.members.models import Member, MemberStatus, MemberToken
from apps.members.selectors import member_not_found


def member_token_issue(
    *, member: Member, client: ApiClient, ttl: timedelta | None = None, reveal_refusal: bool = True
) -> tuple[MemberToken, str]:
    """Issue a short-lived token for the member app, after the brand's own login of this member; ``ttl`` defaults to
    ``MEMBER_TOKEN_TTL``.

    Whether an identity belongs to a closed account or to a prospect (someone a lead named) is personal data: unless
    ``reveal_refusal`` (the caller may read members), both are refused with the very error of an unknown member."""
    if member.status in (MemberStatus.CLOSED, MemberStatus.PROSPECT) and not reveal_refusal:
        raise member_not_found()
    if member.status == MemberStatus.CLOSED:
        raise ApplicationError("member_closed", _("The member's account is closed."), http_status=409)
    if member.status == MemberStatus.PROSPECT:
        raise ApplicationError("member_not_enrolled", _("This person has not enrolled in the programme yet."), http_status=409)
    raw, token_hash = MemberToken.generate()
    now = timezone.now()
    token = MemberToken.objects.create(
        member=member, client=client, token_hash=token_hash, created_at=now, expires_at=now + (ttl or settings.USEROPS["MEMBER_TOKEN_TTL"])
    )
    return token, raw


def member_tokens_revoke(*, member: Member, token: MemberToken | None = None) -> int:
    """Revoke one token, or every live token of the member."""
    tokens = MemberToken.objects.filter(member=member, revoked_at__isnull=True)
    if token is not None:
        tokens = tokens.filter(pk=token.pk)
    return tokens.update(revoked_at=timezone.now())
