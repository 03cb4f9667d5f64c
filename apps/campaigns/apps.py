from typing import TYPE_CHECKING

from django.apps import AppConfig
from django.conf import settings
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from apps.core.activity import StoredActivity


class CampaignsConfig(AppConfig):
    name = "apps.campaigns"
    label = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self) -> None:
        # What this app holds about a member joins the member's PIPL data export.
        from apps.campaigns import member_data

        member_data.register()

        # A member's first purchase may qualify the referral that brought them (after the purchase earned its points).
        from apps.core.activity import register_activity_handler

        register_activity_handler("purchase", qualify_referral_on_first_purchase)


def qualify_referral_on_first_purchase(event: "StoredActivity") -> None:
    from apps.campaigns.services import referral_qualify
    from apps.members.models import Member, MemberStatus

    if not event.first_of_kind or "first_purchase" not in settings.USEROPS_REFERRALS["QUALIFYING_ACTIONS"]:
        return
    member = Member.objects.get(pk=event.member_id)
    if member.status == MemberStatus.ACTIVE:
        referral_qualify(referee=member, action="first_purchase")
