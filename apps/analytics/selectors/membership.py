"""Members, tiers and value: from the nightly scoring (MemberSummary, RfmScore) and the tier history; a member's own
segment and last activity."""

from collections import defaultdict
from datetime import date, datetime, timedelta

from django.db.models import Count, DateField, Sum
from django.db.models.functions import TruncMonth
from django.utils.translation import gettext_lazy as _

from apps.analytics.days import day_start, local_zone
from apps.analytics.models import (
    ActivityEvent,
    MemberSummary,
    RfmScore,
    RfmSegment,
)
from apps.analytics.selectors.figures import Figure, MetricFilter, money, percent, ratio
from apps.members.models import Tier, TierChange, TierChangeKind


def tier_distribution(*, f: MetricFilter) -> Figure:
    """Members per tier, as of the last (nightly) scoring."""
    counts = dict(
        MemberSummary.objects.filter(f.slice_q()).values("tier_id").annotate(n=Sum("members")).values_list("tier_id", "n").order_by()
    )
    total = sum(counts.values())
    rows = [[tier.name, tier.pk, counts.get(tier.pk, 0), percent(counts.get(tier.pk, 0), total)] for tier in Tier.objects.order_by("rank")]
    return Figure("tiers", _("Members by tier"), [_("tier"), _("tier id"), _("members"), _("share %")], rows, {"members": total})


def tier_movements(*, f: MetricFilter) -> Figure:
    changes = (
        TierChange.objects.filter(
            f.member_q("member__"), created_at__gte=day_start(f.start), created_at__lt=day_start(f.end + timedelta(days=1))
        )
        .exclude(kind=TierChangeKind.INITIAL)
        .annotate(m=TruncMonth("created_at", tzinfo=local_zone(), output_field=DateField()))
        .values("m", "kind")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts: dict[date, dict[str, int]] = defaultdict(dict)
    for row in changes:
        counts[row["m"]][row["kind"]] = row["n"]
    rows = [[m, counts[m].get(TierChangeKind.PROMOTION, 0), counts[m].get(TierChangeKind.DEMOTION, 0)] for m in f.months]
    return Figure("tier_movements", _("Promotions and demotions"), [_("month"), _("promotions"), _("demotions")], rows)


def ltv_by_tier(*, f: MetricFilter) -> Figure:
    """Lifetime revenue per member of each (current) tier, as of the last (nightly) scoring."""
    by_tier = {
        row["tier_id"]: row
        for row in MemberSummary.objects.filter(f.slice_q())
        .values("tier_id")
        .annotate(n=Sum("members"), revenue=Sum("lifetime_revenue"))
        .order_by()
    }
    rows = []
    for tier in Tier.objects.order_by("rank"):
        row = by_tier.get(tier.pk, {})
        rows.append([tier.name, row.get("n") or 0, money(row.get("revenue")), ratio(row.get("revenue") or 0, row.get("n") or 0)])
    return Figure("ltv", _("Lifetime value by tier"), [_("tier"), _("members scored"), _("lifetime revenue"), _("LTV")], rows)


def rfm_segments(*, f: MetricFilter) -> Figure:
    counts = dict(
        MemberSummary.objects.filter(f.slice_q()).values("segment").annotate(n=Sum("members")).values_list("segment", "n").order_by()
    )
    total = sum(counts.values())
    rows = [[label, value, counts.get(value, 0), percent(counts.get(value, 0), total)] for value, label in RfmSegment.choices]
    return Figure("rfm", _("RFM segments"), [_("segment"), _("code"), _("members"), _("share %")], rows)


def member_rfm_segment(*, member_id: int) -> str | None:
    """The member's RFM segment from the last nightly scoring, or None before the first."""
    score = RfmScore.objects.filter(member_id=member_id).first()
    return score.get_segment_display() if score else None


def member_last_activity(*, member_id: int) -> datetime | None:
    return ActivityEvent.objects.filter(member_id=member_id).order_by("-occurred_at").values_list("occurred_at", flat=True).first()
