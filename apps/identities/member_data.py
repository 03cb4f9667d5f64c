"""Channel identities and subscriptions in a member's data export (PIPL); anonymisation erases them."""

from typing import Any

from apps.identities.models import ChannelIdentity, SubscriptionQuota
from apps.members.models import Member
from apps.members.personal_data import register_member_anonymiser, register_member_data_section


def member_channel_identities(member: Member) -> list[dict[str, Any]]:
    return list(
        ChannelIdentity.objects.filter(member=member)
        .order_by("kind", "app_id", "id")
        .values("kind", "app_id", "external_id", "unionid", "adviser_userid", "dealer_code", "source", "created_at", "updated_at")
    )


def member_subscriptions(member: Member) -> list[dict[str, Any]]:
    return list(SubscriptionQuota.objects.filter(member=member).order_by("template_id").values("template_id", "remaining", "updated_at"))


def anonymise_identities(member: Member) -> None:
    """An anonymised member can no longer be reached or recognised on any channel."""
    ChannelIdentity.objects.filter(member=member).delete()
    # After the delete, which adds its own history rows.
    ChannelIdentity.history.filter(member_id=member.pk).delete()
    SubscriptionQuota.objects.filter(member=member).delete()


def register() -> None:
    register_member_data_section(name="channel_identities", collect=member_channel_identities)
    register_member_data_section(name="mini_program_subscriptions", collect=member_subscriptions)
    register_member_anonymiser(anonymise_identities)
