"""Segment conditions that need analytics tables, registered into the campaigns' condition registry.

Analytics depends on campaigns, never the reverse: this module is imported from AnalyticsConfig.ready(), and each
condition is a ``pk IN (subquery)`` on an analytics table, so the segment still compiles to one SQL query.
"""

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy

from apps.analytics.models import ActivityEvent, ActivityKind, RfmScore, RfmSegment
from apps.campaigns.conditions import _choices, _days, register_condition
from apps.campaigns.models import Trigger
from apps.campaigns.selectors import register_trigger_window


@register_condition("rfm_segment", label=gettext_lazy("RFM segment"), operators=("in", "not_in"), choices=lambda: RfmSegment.choices)
def _rfm_segment(operator: str, value: Any, path: str = "rfm_segment") -> Q:
    scored = Q(pk__in=RfmScore.objects.filter(segment__in=_choices(value, path, RfmSegment.values)).values("member_id"))
    return ~scored if operator == "not_in" else scored


@register_condition("last_activity", label=gettext_lazy("Last activity"), operators=("within_days", "not_within_days"), value_kind="number")
def _last_activity(operator: str, value: Any, path: str = "last_activity") -> Q:
    """Any activity event in the last N days (the raw log, through its (occurred_at) index, so it is current)."""
    days = _days(value, path)
    since = timezone.now() - timedelta(days=days)
    active = Q(pk__in=ActivityEvent.objects.filter(occurred_at__gte=since).values("member_id"))
    return ~active if operator == "not_within_days" else active


@register_trigger_window(Trigger.FIRST_PURCHASE)
def _first_purchase_between(start: datetime, end: datetime) -> QuerySet:
    """Members whose first purchase we learnt of in the window. Windows follow ``recorded_at``, so a purchase
    reported late still triggers once, in the window that sees it, and a member's later purchases never do."""
    purchases = ActivityEvent.objects.filter(kind=ActivityKind.PURCHASE)
    earlier = purchases.filter(recorded_at__lt=start).values("member_id")
    return purchases.filter(recorded_at__gte=start, recorded_at__lt=end).exclude(member_id__in=earlier).values("member_id")
