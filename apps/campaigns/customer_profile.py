"""Campaigns' part of the customer profile: what campaign runs did to the member and the referrals they made."""

from collections.abc import Sequence

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.campaigns.models import CampaignAction, Referral
from apps.members.models import Member
from apps.members.timeline import (
    TimelineCursor,
    TimelineItem,
    newest_rows,
    object_links,
    register_timeline_source,
    restrict_timeline_source,
)


def campaign_action_items(member: Member, before: TimelineCursor | None, limit: int) -> Sequence[TimelineItem]:
    actions = newest_rows(
        CampaignAction.objects.filter(member_id=member.pk).select_related("campaign"),
        name="campaigns",
        before=before,
        limit=limit,
        time_field="created_at",
    )
    link_to = object_links("admin:campaigns_campaignrun_change")
    return [
        TimelineItem(
            at=action.created_at,
            source="campaigns",
            item_id=action.pk,
            kind=action.outcome,
            title=_("Campaign %(campaign)s") % {"campaign": action.campaign},
            detail=action.get_outcome_display(),
            link=link_to(action.run_id),
            data={"campaign": str(action.campaign), "outcome": action.outcome},
        )
        for action in actions
    ]


def referral_items(member: Member, before: TimelineCursor | None, limit: int) -> Sequence[TimelineItem]:
    referrals = newest_rows(
        Referral.objects.filter(referrer_id=member.pk).select_related("referee"),
        name="referrals",
        before=before,
        limit=limit,
        time_field="created_at",
    )
    link_to = object_links("admin:campaigns_referral_change")
    return [
        TimelineItem(
            at=referral.created_at,
            source="referrals",
            item_id=referral.pk,
            kind="referral",
            # The referee by member number only: their name is their personal data, not the referrer's.
            title=_("Referred member #%(referee)s") % {"referee": referral.referee_id},
            detail=referral.get_state_display(),
            link=link_to(referral.pk),
            data={"state": referral.state},
        )
        for referral in referrals
    ]


def register() -> None:
    register_timeline_source(name="campaigns", label=gettext_lazy("Campaigns"), fetch=campaign_action_items)
    restrict_timeline_source(name="campaigns", permission="campaigns.view_campaign")
    register_timeline_source(name="referrals", label=gettext_lazy("Referrals"), fetch=referral_items)
    restrict_timeline_source(name="referrals", permission="campaigns.view_referral", shown_to_member=True)
