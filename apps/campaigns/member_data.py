"""Referrals and campaign actions in a member's data export (PIPL)."""

from typing import Any

from apps.campaigns.models import CampaignAction, Referral, ReferralCode
from apps.members.models import Member
from apps.members.personal_data import register_member_data_section


def member_referrals(member: Member) -> dict[str, Any]:
    code = ReferralCode.objects.filter(member=member).values_list("code", flat=True).first()
    made = Referral.objects.filter(referrer=member).order_by("id").values("referee_id", "state", "created_at", "rewarded_at")
    received = Referral.objects.filter(referee=member).values("referrer_id", "state", "created_at", "rewarded_at").first()
    return {"code": code, "referred": list(made), "referred_by": received}


def member_campaign_actions(member: Member) -> list[dict[str, Any]]:
    return list(CampaignAction.objects.filter(member=member).order_by("created_at", "id").values("campaign__name", "outcome", "created_at"))


def register() -> None:
    register_member_data_section(name="referrals", collect=member_referrals)
    register_member_data_section(name="campaign_actions", collect=member_campaign_actions)
