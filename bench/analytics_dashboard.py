"""The analytics dashboard on a generated programme: each figure read from the roll-ups, beside the same figure
computed from the raw activity table (same run, same data, same answers — checked), and the roll-up job itself."""

import statistics
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.db import connection
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate, TruncMonth
from django.test import Client

from apps.analytics import selectors, services
from apps.analytics.days import day_start, local_zone
from apps.analytics.management.commands.generate_large_dataset import add_events, add_members
from apps.analytics.models import ActivityEvent, ActivityKind
from apps.core.models import User
from apps.members.models import Member

SIZES = {"quick": (20_000, 200_000), "full": (1_000_000, 10_000_000)}
REPEATS = 5


def _median_ms(action: Callable[[], Any]) -> tuple[float, Any]:
    answer = action()
    timings = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        answer = action()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings), answer


def _ensure_data(members: int, events: int) -> None:
    have_members = Member.objects.count()
    if have_members < members:
        add_members(members - have_members)
    have_events = ActivityEvent.objects.filter(source="generator").count()
    if have_events < events * 0.95:
        add_events(events - have_events, run=f"bench{int(time.time())}")
        services.rollup_run(full=True)
        services.rfm_score_members()
    else:
        services.rollup_run()


def _raw_daily(f: selectors.MetricFilter) -> dict:
    rows = (
        ActivityEvent.objects.filter(occurred_at__gte=day_start(f.start), occurred_at__lt=day_start(f.end + timedelta(days=1)))
        .annotate(d=TruncDate("occurred_at", tzinfo=local_zone()))
        .values("d")
        .annotate(dau=Count("member_id", distinct=True))
        .order_by()
    )
    return {row["d"]: row["dau"] for row in rows}


def _raw_monthly(f: selectors.MetricFilter) -> dict:
    first = f.months[0]
    rows = (
        ActivityEvent.objects.filter(occurred_at__gte=day_start(first), occurred_at__lt=day_start(f.end + timedelta(days=1)))
        .annotate(m=TruncMonth("occurred_at", tzinfo=local_zone()))
        .values("m")
        .annotate(
            mau=Count("member_id", distinct=True),
            buyers=Count("member_id", distinct=True, filter=Q(kind=ActivityKind.PURCHASE)),
            revenue=Sum("amount"),
        )
        .order_by()
    )
    return {row["m"].date() if hasattr(row["m"], "date") else row["m"]: row["mau"] for row in rows}


def _raw_cohorts(f: selectors.MetricFilter) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT date_trunc('month', m.joined_at AT TIME ZONE 'Asia/Shanghai') AS cohort,
                   date_trunc('month', e.occurred_at AT TIME ZONE 'Asia/Shanghai') AS month, count(DISTINCT e.member_id)
            FROM analytics_activityevent e JOIN members_member m ON m.id = e.member_id
            WHERE m.joined_at >= %s AND e.occurred_at >= %s GROUP BY 1, 2
            """,
            [day_start(f.months[0]), day_start(f.months[0])],
        )
        return len(cursor.fetchall())


def run(size: str) -> list[dict[str, Any]]:
    members, events = SIZES[size]
    _ensure_data(members, events)
    total_events = ActivityEvent.objects.count()
    label = f"{total_events:,} events, {Member.objects.count():,} members"
    today = selectors.local_today()
    quarter = selectors.MetricFilter(start=today - timedelta(days=89), end=today)
    year = selectors.MetricFilter(start=(today - timedelta(days=335)).replace(day=1), end=today)
    results = []

    rolled_ms, rolled = _median_ms(lambda: selectors.daily_activity(f=quarter))
    raw_ms, raw = _median_ms(lambda: _raw_daily(quarter))
    assert {row[0]: row[1] for row in rolled.rows if row[1]} == raw, "daily active members differ between roll-up and raw"
    results.append(_result("DAU series, 90 days", rolled_ms, raw_ms, label))

    rolled_ms, rolled = _median_ms(lambda: selectors.monthly_activity(f=year))
    raw_ms, raw = _median_ms(lambda: _raw_monthly(year))
    assert {row[0]: row[1] for row in rolled.rows if row[1]} == raw, "monthly active members differ between roll-up and raw"
    results.append(_result("MAU, stickiness, repurchase by month, 12 months", rolled_ms, raw_ms, label))

    rolled_ms, _rolled = _median_ms(lambda: selectors.cohort_retention(f=year))
    raw_ms, _raw = _median_ms(lambda: _raw_cohorts(year))
    results.append(_result("cohort retention table, 12 cohorts", rolled_ms, raw_ms, label))

    user, _created = User.objects.get_or_create(username="bench-analyst", defaults={"is_staff": True, "is_superuser": True})
    client = Client()
    client.force_login(user)
    params = quarter.as_params()

    def page() -> None:
        response = client.get("/admin/analytics/dailymetric/", params)
        assert response.status_code == 200, response.status_code

    page_ms, _answer = _median_ms(page)
    raw_total = sum(
        _median_ms(action)[0] for action in (lambda: _raw_daily(quarter), lambda: _raw_monthly(quarter), lambda: _raw_cohorts(quarter))
    )
    results.append(
        {
            "name": "analytics dashboard page (every figure)",
            "figure": round(page_ms, 1),
            "unit": "ms",
            "baseline": round(raw_total, 1),
            "baseline_name": "its DAU, MAU and cohort figures alone from the raw table",
            "size": label,
        }
    )

    # The hourly job: 1,000 new events, late ones among them, over the last 30 days, beside rebuilding every day.
    run_id = f"late{int(time.time())}"
    add_events(1_000, run=run_id)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE analytics_activityevent SET occurred_at = now() - random() * interval '30 days', recorded_at = now() "
            "WHERE source = 'generator' AND event_id LIKE %s",
            [f"{run_id}-%"],
        )
    started = time.perf_counter()
    incremental_days = len(services.rollup_run().days)
    incremental_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    full_days = len(services.rollup_run(full=True).days)
    full_ms = (time.perf_counter() - started) * 1000
    results.append(
        {
            "name": "roll-up job after 1,000 new events",
            "figure": round(incremental_ms / 1000, 2),
            "unit": "s",
            "baseline": round(full_ms / 1000, 2),
            "baseline_name": f"full rebuild of {full_days} days",
            "size": f"{label}; {incremental_days} days touched",
        }
    )
    started = time.perf_counter()
    scored = services.rfm_score_members()
    results.append(
        {
            "name": "RFM scoring (NTILE, set-based)",
            "figure": round(time.perf_counter() - started, 2),
            "unit": "s",
            "baseline": 0,
            "baseline_name": "none",
            "size": f"{scored:,} members",
        }
    )
    return results


def _result(name: str, rolled_ms: float, raw_ms: float, label: str) -> dict[str, Any]:
    return {
        "name": name,
        "figure": round(rolled_ms, 2),
        "unit": "ms",
        "baseline": round(raw_ms, 2),
        "baseline_name": "same figure from the raw activity table",
        "size": label,
    }
