"""Campaigns' part of the customer profile: what campaign runs did to the member and the referrals they made."""

from collections.abc import Sequence

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.campaigns.models import CampaignAction, Referral
from apps.members.timeline import (
    TimelineItem,
    TimelineRow,
    choice_labels,
    object_links,
    register_timeline_source,
    restrict_timeline_source,
)


def campaign_action_items(rows: Sequence[TimelineRow]) -> list[TimelineItem]:
    outcome_label = choice_labels(CampaignAction, "outcome")
    link_to = object_links("admin:campaigns_campaignrun_change")
    return [
        row.item(
            kind=row["outcome"],
            title=_("Campaign %(campaign)s") % {"campaign": row["campaign"]},
            detail=outcome_label(row["outcome"]),
            link=link_to(row["run"]),
            data={"campaign": row["campaign"], "outcome": row["outcome"]},
        )
        for row in rows
    ]


def referral_items(rows: Sequence[TimelineRow]) -> list[TimelineItem]:
    state_label = choice_labels(Referral, "state")
    link_to = object_links("admin:campaigns_referral_change")
    return [
        row.item(
            kind="referral",
            # The referee by member number only: their name is their personal data, not the referrer's.
            title=_("Referred member #%(referee)s") % {"referee": row["referee"]},
            detail=state_label(row["state"]),
            link=link_to(row.item_id),
            data={"state": row["state"]},
        )
        for row in rows
    ]


def register() -> None:
    register_timeline_source(
        name="campaigns",
        label=gettext_lazy("Campaigns"),
        rows=lambda member: CampaignAction.objects.filter(member_id=member.pk),
        time_field="created_at",
        columns={"campaign": "campaign__name", "outcome": "outcome", "run": "run_id"},
        items=campaign_action_items,
    )
    restrict_timeline_source(name="campaigns", permission="campaigns.view_campaign")
    register_timeline_source(
        name="referrals",
        label=gettext_lazy("Referrals"),
        rows=lambda member: Referral.objects.filter(referrer_id=member.pk),
        time_field="created_at",
        columns={"referee": "referee_id", "state": "state"},
        items=referral_items,
    )
    restrict_timeline_source(name="referrals", permission="campaigns.view_referral", shown_to_member=True)
