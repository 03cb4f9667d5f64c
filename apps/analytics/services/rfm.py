"""RFM scoring: every member's quintiles over the scoring window, in one set-based statement."""

from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Count, Max, Sum
from django.utils import timezone

from apps.analytics.days import config, local_zone
from apps.analytics.models import DailyMemberActivity, MemberSummary, RfmScore
from apps.analytics.services.sql import compiled, insert_select
from apps.members.models import Member

SEGMENT_CASE = """
    CASE
        WHEN s.member_id IS NULL THEN 'no_purchase'
        WHEN s.r >= 4 AND s.f >= 4 AND s.m >= 4 THEN 'champions'
        WHEN s.r >= 3 AND s.f >= 3 THEN 'loyal'
        WHEN s.r >= 4 AND s.f = 1 THEN 'new'
        WHEN s.r >= 3 THEN 'potential'
        WHEN s.f >= 3 THEN 'at_risk'
        WHEN s.r = 2 THEN 'hibernating'
        ELSE 'lost'
    END"""


def rfm_score_members(*, now: datetime | None = None, window_days: int | None = None) -> int:
    """Score every member in one set-based statement: quintiles (NTILE(5)) of last purchase day, number of purchases
    and revenue over the window, read from the member-day roll-up. Tied values share the lowest quintile they span,
    so two members with the same figure always get the same score. Members without a purchase in the window get
    1/1/1 and the segment ``no_purchase``. Replaces every score in one transaction; returns the members scored.
    """
    now = now or timezone.now()
    window_days = window_days or config("RFM_WINDOW_DAYS")
    today = timezone.localtime(now, local_zone()).date()
    window = (
        DailyMemberActivity.objects.filter(day__gt=today - timedelta(days=window_days), day__lte=today, purchases__gt=0)
        .values("member_id")
        .annotate(last=Max("day"), freq=Sum("purchases"), money=Sum("revenue"))
        .order_by()
    )
    lifetime = (
        DailyMemberActivity.objects.filter(day__lte=today)
        .values("member_id")
        .annotate(last_active=Max("day"), total=Sum("revenue"))
        .order_by()
    )
    window_sql, window_params = compiled(window)
    lifetime_sql, lifetime_params = compiled(lifetime)
    ranked = f"""
        SELECT w.member_id, w.last, w.freq, w.money,
               NTILE(5) OVER (ORDER BY w.last, w.member_id) AS r0,
               NTILE(5) OVER (ORDER BY w.freq, w.member_id) AS f0,
               NTILE(5) OVER (ORDER BY w.money, w.member_id) AS m0
        FROM ({window_sql}) w"""  # noqa: S608
    scored = f"""
        SELECT q.member_id, q.last, q.freq, q.money,
               MIN(q.r0) OVER (PARTITION BY q.last) AS r,
               MIN(q.f0) OVER (PARTITION BY q.freq) AS f,
               MIN(q.m0) OVER (PARTITION BY q.money) AS m
        FROM ({ranked}) q"""  # noqa: S608
    member_table = Member._meta.db_table
    sql = f"""
        SELECT mm.id, COALESCE(s.r, 1), COALESCE(s.f, 1), COALESCE(s.m, 1), {SEGMENT_CASE},
               s.last, COALESCE(s.freq, 0), COALESCE(s.money, 0), COALESCE(l.total, 0), l.last_active, %s
        FROM {member_table} mm
        LEFT JOIN ({scored}) s ON s.member_id = mm.id
        LEFT JOIN ({lifetime_sql}) l ON l.member_id = mm.id
        WHERE 1 = 1"""  # noqa: S608
    columns = ["member", "recency", "frequency", "monetary", "segment", "last_purchase_day", "purchases", "revenue"]
    columns += ["lifetime_revenue", "last_active_day", "scored_at"]
    scored_at = RfmScore._meta.get_field("scored_at").get_db_prep_save(now, connection)
    summary = (
        RfmScore.objects.values("member__tier_id", "member__city", "member__source_channel", "segment")
        .annotate(n=Count("member_id"), total=Sum("lifetime_revenue"))
        .order_by()
    )
    with transaction.atomic():
        RfmScore.objects.all().delete()
        scored = insert_select(RfmScore, columns, sql, (scored_at, *window_params, *lifetime_params))
        MemberSummary.objects.all().delete()
        insert_select(MemberSummary, ["tier_id", "city", "channel", "segment", "members", "lifetime_revenue"], *compiled(summary))
        return scored
