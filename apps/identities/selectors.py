from django.db.models import QuerySet

from apps.identities.models import ChannelIdentity, IdentityKind, SubscriptionQuota


def member_identities(*, member_id: int) -> QuerySet[ChannelIdentity]:
    return ChannelIdentity.objects.filter(member_id=member_id).order_by("kind", "app_id", "id")


def member_identity(*, member_id: int, kind: str, app_id: str) -> ChannelIdentity | None:
    """The member's openid in one WeChat app, or contact in one WeCom corp (the newest push token for a platform)."""
    return ChannelIdentity.objects.filter(member_id=member_id, kind=kind, app_id=app_id).order_by("-updated_at", "-id").first()


def member_wecom_contact(*, member_id: int, corp_id: str) -> ChannelIdentity | None:
    return member_identity(member_id=member_id, kind=IdentityKind.WECOM, app_id=corp_id)


def member_subscriptions(*, member_id: int) -> QuerySet[SubscriptionQuota]:
    return SubscriptionQuota.objects.filter(member_id=member_id).order_by("template_id")
