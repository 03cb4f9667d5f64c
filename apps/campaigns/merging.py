"""Merging duplicate members: segment snapshots, campaign actions and referrals move to the survivor."""

from apps.campaigns.models import CampaignAction, Referral, ReferralCode, SegmentMember
from apps.members.merging import reassign, register_member_merger
from apps.members.models import Member


def move_campaign_rows(survivor: Member, merged: Member) -> dict[str, int]:
    # A run acts on a person once: where it acted on both members, the merged member's action stays as its record.
    moved = {
        "segment_snapshots": reassign(SegmentMember, survivor=survivor, merged=merged, unique_with=["segment"]),
        "campaign_actions": reassign(CampaignAction, survivor=survivor, merged=merged, unique_with=["run"]),
        "referral_codes": 0,
        "referrals_made": Referral.objects.filter(referrer=merged).exclude(referee=survivor).update(referrer=survivor),
        "referral_received": 0,
    }
    if not ReferralCode.objects.filter(member=survivor).exists():
        moved["referral_codes"] = ReferralCode.objects.filter(member=merged).update(member=survivor)
    # One referral per referee; one the survivor made of the merged member is not moved (no one refers themselves).
    if not Referral.objects.filter(referee=survivor).exists():
        moved["referral_received"] = Referral.objects.filter(referee=merged).exclude(referrer=survivor).update(referee=survivor)
    return moved


def register() -> None:
    register_member_merger(name="campaigns", move=move_campaign_rows)
