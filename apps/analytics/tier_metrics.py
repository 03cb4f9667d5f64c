"""The figures tier conditions read, registered into the members app's tier-metric registry.

Members cannot import analytics (it sits below it), so ``AnalyticsConfig.ready()`` registers these: each answers for a
whole chunk of members with one grouped query on analytics' tables.

- ``purchases``: purchases that occurred in the rolling window (the activity log, through its (member, occurred_at)
  index, so a purchase counts as soon as it is stored);
- ``spend``: the amount of those purchases, in CNY;
- ``rfm_segment``: the member's segment from the latest RFM scoring (members never scored have none).
"""

from datetime import datetime
from decimal import Decimal

from django.db.models import Count, Sum
from django.utils.translation import gettext_lazy as _

from apps.analytics.models import ActivityEvent, ActivityKind, RfmScore, RfmSegment
from apps.members.tier_rules import PURCHASES, RFM_SEGMENT, SPEND, register_tier_metric


def _purchases_in_window(member_ids: list[int], since: datetime, until: datetime) -> list[dict]:
    return list(
        ActivityEvent.objects.filter(member_id__in=member_ids, kind=ActivityKind.PURCHASE, occurred_at__gt=since, occurred_at__lte=until)
        .values("member_id")
        .annotate(count=Count("id"), spend=Sum("amount"))
    )


def purchases(member_ids: list[int], since: datetime, until: datetime) -> dict[int, int]:
    return {row["member_id"]: row["count"] for row in _purchases_in_window(member_ids, since, until)}


def spend(member_ids: list[int], since: datetime, until: datetime) -> dict[int, Decimal]:
    return {row["member_id"]: row["spend"] or Decimal(0) for row in _purchases_in_window(member_ids, since, until)}


def rfm_segment(member_ids: list[int], since: datetime, until: datetime) -> dict[int, str]:
    return dict(RfmScore.objects.filter(member_id__in=member_ids).values_list("member_id", "segment"))


def register() -> None:
    register_tier_metric(PURCHASES, label=_("Purchases in the window"), compute=purchases)
    register_tier_metric(SPEND, label=_("Spend in the window (CNY)"), compute=spend)
    register_tier_metric(RFM_SEGMENT, label=_("RFM segment"), compute=rfm_segment, choices=lambda: RfmSegment.choices)
