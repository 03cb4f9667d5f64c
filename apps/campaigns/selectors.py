from typing import Any

from django.db.models import QuerySet

from apps.campaigns.conditions import compile_rules
from apps.campaigns.models import CampaignRun, Segment, SegmentMember
from apps.members.models import Member


def rules_members(*, rules: dict[str, Any]) -> QuerySet[Member]:
    """The members matching a rule tree: one SQL query, whatever the tree."""
    return Member.objects.filter(compile_rules(rules))


def segment_members(*, segment: Segment) -> QuerySet[Member]:
    """A frozen segment's snapshot, or its rules evaluated now."""
    if segment.is_frozen:
        return Member.objects.filter(pk__in=SegmentMember.objects.filter(segment=segment).values("member_id"))
    return rules_members(rules=segment.rules)


def segment_preview(*, rules: dict[str, Any], sample_size: int = 10) -> dict[str, Any]:
    """Live count and a sample, for the segment editor."""
    members = rules_members(rules=rules)
    sample = members.select_related("tier").order_by("-id")[:sample_size]
    return {
        "count": members.count(),
        "sample": [{"id": m.pk, "name": m.name, "tier": m.tier.name, "city": m.city, "status": m.get_status_display()} for m in sample],
    }


def campaign_run_list() -> QuerySet[CampaignRun]:
    return CampaignRun.objects.select_related("campaign")
