"""Segment conditions that need analytics tables, registered into the campaigns' condition registry.

Analytics depends on campaigns, never the reverse: this module is imported from AnalyticsConfig.ready(), and each
condition is a ``pk IN (subquery)`` on an analytics table, so the segment still compiles to one SQL query.
"""

from datetime import timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy

from apps.analytics.models import ActivityEvent, RfmScore, RfmSegment
from apps.campaigns.conditions import _choices, _int, register_condition


@register_condition("rfm_segment", label=gettext_lazy("RFM segment"), operators=("in", "not_in"))
def _rfm_segment(operator: str, value: Any, path: str = "rfm_segment") -> Q:
    scored = Q(pk__in=RfmScore.objects.filter(segment__in=_choices(value, path, RfmSegment.values)).values("member_id"))
    return ~scored if operator == "not_in" else scored


@register_condition("last_activity", label=gettext_lazy("Last activity"), operators=("within_days", "not_within_days"), value_kind="number")
def _last_activity(operator: str, value: Any, path: str = "last_activity") -> Q:
    """Any activity event in the last N days (the raw log, through its (occurred_at) index, so it is current)."""
    days = _int(value, path)
    since = timezone.now() - timedelta(days=days)
    active = Q(pk__in=ActivityEvent.objects.filter(occurred_at__gte=since).values("member_id"))
    return ~active if operator == "not_within_days" else active
