"""Programme metrics. Each is defined in docs/metrics.md; the dashboard, its CSV exports and the API share these.

By concern: ``figures`` (the filter and the table every figure is), ``activity`` (read only from the roll-ups, never
the raw activity table), ``membership`` (tiers, value, RFM, a member's segment and last activity) and ``programme``
(points, benefits, events and campaigns, read from their own apps' tables).
"""

from collections.abc import Callable

from apps.analytics.selectors.activity import (
    active_members,
    cohort_retention,
    daily_activity,
    funnel,
    monthly_activity,
    nps,
    weekly_activity,
)
from apps.analytics.selectors.figures import (
    Figure,
    MetricFilter,
    default_filter,
    local_today,
    metric_filter_check_group,
    metric_filter_from,
)
from apps.analytics.selectors.membership import (
    ltv_by_tier,
    member_last_activity,
    member_rfm_segment,
    rfm_segments,
    tier_distribution,
    tier_movements,
)
from apps.analytics.selectors.programme import benefit_summary, campaign_summary, event_summary, points_summary

FIGURES: dict[str, Callable[..., Figure]] = {
    "active": active_members,
    "daily": daily_activity,
    "weekly": weekly_activity,
    "monthly": monthly_activity,
    "cohorts": cohort_retention,
    "funnel": funnel,
    "nps": nps,
    "tiers": tier_distribution,
    "tier_movements": tier_movements,
    "ltv": ltv_by_tier,
    "rfm": rfm_segments,
    "points": points_summary,
    "benefits": benefit_summary,
    "events": event_summary,
    "campaigns": campaign_summary,
}


def figure(*, name: str, f: MetricFilter) -> Figure:
    return FIGURES[name](f=f)


__all__ = [
    "FIGURES",
    "Figure",
    "MetricFilter",
    "active_members",
    "benefit_summary",
    "campaign_summary",
    "cohort_retention",
    "daily_activity",
    "default_filter",
    "event_summary",
    "figure",
    "funnel",
    "local_today",
    "ltv_by_tier",
    "member_last_activity",
    "member_rfm_segment",
    "metric_filter_check_group",
    "metric_filter_from",
    "monthly_activity",
    "nps",
    "points_summary",
    "rfm_segments",
    "tier_distribution",
    "tier_movements",
    "weekly_activity",
]
