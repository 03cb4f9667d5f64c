"""The one place campaigns, runs and segments are locked, first in the product's lock order (docs/architecture.md).

A campaign is locked before its run, and both before the benefit it grants and the members' points accounts.
"""

from apps.campaigns.models import Campaign, CampaignRun, Segment


def lock_campaign(*, campaign_id: int) -> Campaign:
    return Campaign.objects.select_for_update().get(pk=campaign_id)


def lock_run(*, run_id: int) -> CampaignRun:
    return CampaignRun.objects.select_for_update().get(pk=run_id)


def lock_segment(*, segment_id: int) -> Segment:
    return Segment.objects.select_for_update().get(pk=segment_id)
